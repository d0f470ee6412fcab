import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { initBackend } from '@deformjs/core';
import { assertNoTensorLeak } from '@deformjs/core/testing';
import { AdamW, optimizationStep } from '@deformjs/nn';
import { FlowNetS, multiScaleEpeLoss } from '../src/index';

describe('FlowNet-S', () => {
  it('predicts flow at stride 4 with flownet2-pytorch names; errors name the argument', async () => {
    await initBackend('wasm');
    const net = new FlowNetS({ width: 4, seed: 0 });
    const names = Object.keys(net.stateDict());
    for (const name of [
      'conv1.0.weight',
      'conv6_1.0.bias',
      'deconv5.0.weight',
      'predict_flow2.weight',
      'upsampled_flow6_to_5.weight',
    ])
      expect(names).toContain(name);
    const a = tf.randomNormal([2, 64, 128, 3], 0, 1, 'float32', 1);
    const out = await assertNoTensorLeak(() => net.forward(a, a));
    expect(out.flow.shape).toEqual([2, 16, 32, 2]);
    expect(out.features.shape).toEqual([2, 16, 32, net.featureChannels]);
    expect(out.predictions.map((p) => p.shape.slice(1, 3))).toEqual([
      [16, 32],
      [8, 16],
      [4, 8],
      [2, 4],
      [1, 2],
    ]);
    expect(() => net.forward(tf.zeros([1, 60, 64, 3]), tf.zeros([1, 60, 64, 3]))).toThrow(
      /FlowNetS.*current.*multiples of 64, got \[60, 64\]/,
    );
    expect(() => net.forward(a, tf.zeros([2, 64, 64, 3]))).toThrow(/FlowNetS.*reference/);
    expect(() => multiScaleEpeLoss(out.predictions.slice(1), tf.zeros([2, 64, 128, 2]))).toThrow(
      /multiScaleEpeLoss.*predictions.*5 flows/,
    );
    tf.dispose([a, out.flow, out.features, ...out.predictions]);
    net.dispose();
  });

  it('trains on a known translation: the multi-scale EPE falls, tensor count flat', async () => {
    await initBackend('wasm');
    const net = new FlowNetS({ width: 4, seed: 1 });
    const optimizer = new AdamW([{ params: net.trainableVariables() }], { lr: 2e-3, weightDecay: 0 });
    // The reference is the current frame shifted right by 3 px: the backward flow is (+3, 0) everywhere it is defined.
    const reference = tf.randomUniform([1, 64, 64, 3], -1, 1, 'float32', 2);
    const current = tf.tidy(() =>
      tf.slice(
        tf.pad(reference, [
          [0, 0],
          [0, 0],
          [0, 3],
          [0, 0],
        ]),
        [0, 0, 3, 0],
        [1, 64, 64, 3],
      ),
    );
    const truth = tf.tidy(() => tf.mul(tf.ones([1, 64, 64, 2]), tf.tensor1d([3, 0])));
    const step = () =>
      optimizationStep(
        () => {
          const { flow, features, predictions } = net.forward(current, reference);
          const loss = multiScaleEpeLoss(predictions, truth);
          tf.dispose([flow, features, ...predictions]);
          return { loss, components: { epe: loss } };
        },
        net.trainableVariables(),
        optimizer,
        0,
      ).loss;
    const first = step();
    const losses = await assertNoTensorLeak(() => Array.from({ length: 8 }, step));
    expect(losses[losses.length - 1]).toBeLessThan(0.8 * first);
    tf.dispose([reference, current, truth]);
    optimizer.dispose();
    net.dispose();
  });
});
