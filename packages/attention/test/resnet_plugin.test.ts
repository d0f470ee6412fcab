import * as tf from '@tensorflow/tfjs-core';
import { Rng, initBackend } from '@deformjs/core';
import { assertNoTensorLeak } from '@deformjs/core/testing';
import { ResNet, Sequential, plainConv3x3, type Conv3x3Factory } from '@deformjs/nn';
import { describe, expect, it } from 'vitest';
import { GeneralizedAttention } from '../src/index';

// mmdet's empirical-attention plugin: after the 3x3 conv of every block in stages 3 and 4, '0010', 8 heads
// (4 here: the test network is narrow), kv_stride 2.
const withAttention: Conv3x3Factory = (ctx) => {
  const conv = plainConv3x3(ctx);
  if (ctx.stage < 3) return conv;
  return new Sequential(
    conv,
    new GeneralizedAttention({
      inChannels: ctx.outChannels,
      numHeads: 4,
      kvStride: 2,
      attentionType: '0010',
      rng: ctx.rng,
    }),
  );
};

describe('GeneralizedAttention as a ResNet plugin', () => {
  it('drops in after the 3x3 convs and trains with a flat tensor count (wasm)', async () => {
    await initBackend('wasm');
    // ResNet-50: the bottleneck's only 3x3 conv is conv2, so the plugin sits where mmdet's 'after_conv2' puts it.
    const net = new ResNet({ depth: 50, width: 4, returnFeatures: ['C5'], conv3x3: withAttention, seed: 1 });
    const attentionNames = net
      .namedParameters()
      .map(([name]) => name)
      .filter((name) => name.endsWith('appr_bias'));
    const expected = [
      ...Array.from({ length: 6 }, (_, b) => `layer3.${b}.conv2.1.appr_bias`),
      ...Array.from({ length: 3 }, (_, b) => `layer4.${b}.conv2.1.appr_bias`),
    ];
    expect(attentionNames).toEqual(expected);
    const x = new Rng(2).normalTensor([2, 32, 32, 3]);
    const optimizer = tf.train.sgd(0.05);
    const loss = () => tf.mean(tf.square(net.forward(x).C5!)) as tf.Scalar;
    optimizer.minimize(loss)?.dispose();
    const gammas = net.namedParameters().filter(([name]) => name.endsWith('.gamma'));
    expect(gammas).toHaveLength(9);
    // One step moves gamma off 0: the attention path is live and differentiable inside the network.
    for (const [, p] of gammas) expect(Math.abs(p.variable.dataSync()[0])).toBeGreaterThan(0);
    await assertNoTensorLeak(() => optimizer.minimize(loss)?.dispose());
    tf.tidy(() => {
      expect(net.forward(x).C5!.shape).toEqual([2, 1, 1, 128]);
    });
    optimizer.dispose();
    x.dispose();
    net.dispose();
  });
});
