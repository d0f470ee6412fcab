import * as tf from '@tensorflow/tfjs-core';
import { Rng, initBackend } from '@deformjs/core';
import { assertAllClose, assertNoTensorLeak } from '@deformjs/core/testing';
import { AdamW, DepthwiseConv2d, optimizationStep } from '@deformjs/nn';
import { describe, expect, it } from 'vitest';
import { DEPTHWISE_VARIANTS, ShapesClassifier } from '../scripts/network';
import { DeformKernelConv2d, GlobalDeformKernel2d, LocalDeformKernel2d } from '../src/index';

const LAYER_OF = {
  depthwise: DepthwiseConv2d,
  'dk-local': LocalDeformKernel2d,
  'dk-global': GlobalDeformKernel2d,
  dcn: DeformKernelConv2d,
  'dk+dcn': DeformKernelConv2d,
} as const;

describe('ShapesClassifier (the Deformable Kernels experiment network)', () => {
  it('starts the backend', async () => {
    expect(await initBackend('wasm')).toBe('wasm');
  });

  it.each(DEPTHWISE_VARIANTS)(
    '%s: every block takes that depthwise layer; a training step reaches every parameter and leaves the tensor count flat',
    async (variant) => {
      const net = new ShapesClassifier({ variant, width: 4, seed: 1 });
      for (const block of net.blocks) expect(block.depthwise).toBeInstanceOf(LAYER_OF[variant]);
      const dcnBlock = net.blocks[0].depthwise;
      if (dcnBlock instanceof DeformKernelConv2d) {
        expect(dcnBlock.config.scope).toEqual(variant === 'dcn' ? [3, 3] : [4, 4]);
        expect(dcnBlock.rotationConv === null).toBe(variant === 'dcn');
      }
      const images = new Rng(2).normalTensor([2, 12, 12, 3]);
      const labels = tf.oneHot(tf.tensor1d([1, 4], 'int32'), 5);
      const logits = net.forward(images);
      expect(logits.shape).toEqual([2, 5]);
      expect(net.features(images).shape).toEqual([2, 3, 3, 16]);
      const variables = net.trainableVariables();
      const loss = () => tf.losses.softmaxCrossEntropy(labels, net.forward(images)) as tf.Scalar;
      const { grads } = tf.variableGrads(loss, variables);
      // Every parameter gets a gradient, the zero-initialised deformation predictors included.
      const silent = variables.filter((v) => tf.tidy(() => tf.max(tf.abs(grads[v.name])).dataSync()[0]) === 0);
      expect(silent.map((v) => v.name)).toEqual([]);
      tf.dispose([logits, ...Object.values(grads)]);
      const optimizer = new AdamW(variables, { lr: 1e-2 });
      // The first step creates AdamW's moments; later steps must leave the count flat.
      optimizationStep(() => ({ loss: loss(), components: {} }), variables, optimizer, 1);
      await assertNoTensorLeak(() => {
        const { loss: value } = optimizationStep(() => ({ loss: loss(), components: {} }), variables, optimizer, 1);
        expect(Number.isFinite(value)).toBe(true);
      });
      tf.dispose([images, labels]);
      net.dispose();
    },
  );

  it('at initialisation dk-local is the plain depthwise network with the scope kernels 2x2-averaged', () => {
    // Same seed, same draws: both nets hold the same stem, pointwise and fc weights only if the depthwise layers
    // draw alike, which they do not; so copy the averaged scope kernels into the plain net and compare.
    const dk = new ShapesClassifier({ variant: 'dk-local', width: 4, seed: 3 });
    const plain = new ShapesClassifier({ variant: 'depthwise', width: 4, seed: 3 });
    const dict = dk.stateDict();
    const averaged = Object.fromEntries(
      Object.entries(dict).flatMap(([name, value]) => {
        if (name.includes('rotation_conv')) return [];
        if (!name.endsWith('inner_conv.weight')) return [[name, value]];
        const pooled = tf.tidy(() =>
          tf.transpose(tf.avgPool(tf.transpose(value, [3, 0, 1, 2]) as tf.Tensor4D, 2, 1, 'valid'), [1, 2, 3, 0]),
        );
        return [[name.replace('inner_conv.weight', 'weight'), pooled]];
      }),
    );
    plain.loadStateDict(averaged);
    dk.eval();
    plain.eval();
    tf.tidy(() => {
      const images = new Rng(4).normalTensor([2, 12, 12, 3]);
      assertAllClose(dk.forward(images), plain.forward(images), { atol: 1e-4, name: 'logits' });
    });
    tf.dispose([...Object.values(dict), ...Object.values(averaged)]);
    dk.dispose();
    plain.dispose();
  });

  it('errors name the network, the argument, the expected and the actual value', () => {
    expect(() => new ShapesClassifier({ variant: 'deformable' as never })).toThrow(
      /ShapesClassifier: argument 'variant' expected one of .*depthwise.*dk\+dcn.*, got "deformable"/,
    );
    expect(() => new ShapesClassifier({ variant: 'dcn', width: 0 })).toThrow(
      /ShapesClassifier: argument 'width' expected an integer >= 1, got 0/,
    );
    const net = new ShapesClassifier({ variant: 'dk-global', width: 4 });
    const gray = tf.zeros([1, 8, 8, 1]);
    expect(() => net.forward(gray)).toThrow(
      /ShapesClassifier: argument 'images' expected shape \[N=1, H=8, W=8, 3\] \(dimension 3 = 3\), got "shape \[1, 8, 8, 1\]"/,
    );
    gray.dispose();
    net.dispose();
  });
});
