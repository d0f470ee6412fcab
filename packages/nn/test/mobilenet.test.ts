import * as tf from '@tensorflow/tfjs-core';
// After tfjs-core itself: imported first, it leaves tfjs's chained ops (tensor.clone) unset.
import { describe, expect, it } from 'vitest';
import { initBackend, Rng } from '@deformjs/core';
import { assertAllClose, assertNoTensorLeak } from '@deformjs/core/testing';
import {
  AdamW,
  DepthwiseConv2d,
  DepthwiseSeparableConv,
  FPN,
  MobileNet,
  ResNet,
  optimizationStep,
  type Depthwise3x3Factory,
} from '../src/index';

describe('MobileNet', () => {
  it('returns C2..C5 at strides 4..32 with the block widths of MobileNet v1, names under features.i', async () => {
    await initBackend('wasm');
    const net = new MobileNet({ width: 4, middleBlocks: 1, seed: 0 });
    net.eval();
    expect(net.channels).toEqual({ C2: 16, C3: 32, C4: 64, C5: 128 });
    const names = Object.keys(net.stateDict());
    for (const name of ['features.0.0.weight', 'features.0.1.running_mean', 'features.1.0.weight', 'features.9.4.bias'])
      expect(names).toContain(name);
    expect(names).not.toContain('features.10.0.weight');
    const x = tf.randomNormal([2, 64, 96, 3], 0, 1, 'float32', 1);
    const out = await assertNoTensorLeak(() => net.forward(x));
    expect(Object.fromEntries(Object.entries(out).map(([k, t]) => [k, t.shape]))).toEqual({
      C2: [2, 16, 24, 16],
      C3: [2, 8, 12, 32],
      C4: [2, 4, 6, 64],
      C5: [2, 2, 3, 128],
    });
    // The same interface as ResNet: an FPN takes the four maps.
    const fpn = new FPN([16, 32, 64, 128], 8, { lastLevelMaxPool: true });
    const p = fpn.forward(out);
    expect(p.pool.shape).toEqual([2, 1, 2, 8]);
    expect(() => new MobileNet({ width: 0 })).toThrow(/MobileNet.*width.*positive integer/);
    expect(() => new MobileNet({ norm: 'group' as 'batch' })).toThrow(/MobileNet.*norm/);
    tf.dispose([x, ...Object.values(out), ...Object.values(p)]);
    net.dispose();
    fpn.dispose();
  });

  it('a depthwise-separable block is dw 3x3 -> BN -> ReLU -> pw 1x1 -> BN -> ReLU', async () => {
    await initBackend('wasm');
    const block = new DepthwiseSeparableConv(new Rng(0), 3, 5, 2);
    block.eval();
    const x = tf.randomNormal([1, 7, 6, 3], 0, 1, 'float32', 2);
    const expected = tf.tidy(() => {
      const dw = tf.depthwiseConv2d(x as tf.Tensor4D, (block.depthwise as DepthwiseConv2d).weight as tf.Tensor4D, 2, 1);
      const h = tf.relu(block.depthwiseNorm.forward(dw));
      return tf.relu(
        block.pointwiseNorm.forward(tf.conv2d(h as tf.Tensor4D, block.pointwise.weight as tf.Tensor4D, 1, 0)),
      );
    });
    assertAllClose(block.forward(x), expected, { atol: 1e-5, name: 'block' });
    expect(Object.keys(block.stateDict())).toEqual([
      '0.weight',
      '1.weight',
      '1.bias',
      '1.running_mean',
      '1.running_var',
      '1.num_batches_tracked',
      '3.weight',
      '4.weight',
      '4.bias',
      '4.running_mean',
      '4.running_var',
      '4.num_batches_tracked',
    ]);
    tf.dispose([x, expected]);
    block.dispose();
  });

  it('a block takes its depthwise 3x3 from a factory, called with the channels and the stride', async () => {
    await initBackend('wasm');
    const calls: Array<[number, number]> = [];
    // A depthwise conv with a bias: a layer the default factory never makes, so its key shows it was used.
    const withBias: Depthwise3x3Factory = (rng, channels, stride) => {
      calls.push([channels, stride]);
      return new DepthwiseConv2d(rng, channels, 3, { stride, padding: 1 });
    };
    const block = new DepthwiseSeparableConv(new Rng(0), 3, 5, 2, 'batch', withBias);
    expect(calls).toEqual([[3, 2]]);
    expect(Object.keys(block.stateDict()).slice(0, 2)).toEqual(['0.weight', '0.bias']);
    const x = tf.randomNormal([1, 7, 6, 3], 0, 1, 'float32', 2);
    const y = block.forward(x);
    expect(y.shape).toEqual([1, 4, 3, 5]);
    tf.dispose([x, y]);
    block.dispose();
  });

  it('trains (batch norm in training mode) with a flat tensor count', async () => {
    await initBackend('wasm');
    const net = new MobileNet({ width: 4, middleBlocks: 1, seed: 0 });
    const optimizer = new AdamW([{ params: net.trainableVariables() }], { lr: 1e-2, weightDecay: 0 });
    const x = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 3);
    const step = () =>
      optimizationStep(
        () => {
          const out = net.forward(x);
          const loss = tf.addN(Object.values(out).map((t) => tf.mean(tf.square(t)))) as tf.Scalar;
          tf.dispose(Object.values(out));
          return { loss, components: { loss } };
        },
        net.trainableVariables(),
        optimizer,
        10,
      );
    const stemWeight = net.trainableVariables()[0]; // features.0.0.weight, the first registered
    const stemBefore = stemWeight.dataSync().slice();
    const first = step().loss;
    for (let i = 0; i < 4; i++) step();
    const result = await assertNoTensorLeak(step);
    expect(result.loss).toBeLessThan(0.95 * first);
    expect(stemWeight.dataSync()).not.toEqual(stemBefore);
    x.dispose();
    optimizer.dispose();
    net.dispose();
  });

  for (const backbone of ['MobileNet', 'ResNet'] as const) {
    it(`${backbone} norm 'instance': in evaluation what 'batch' computes in training on one image, with gradients`, async () => {
      await initBackend('wasm');
      const build = (norm: 'batch' | 'instance') =>
        backbone === 'MobileNet'
          ? new MobileNet({ width: 4, middleBlocks: 1, norm, seed: 5 })
          : new ResNet({ depth: 18, width: 4, norm, seed: 5 });
      const batch = build('batch');
      const instance = build('instance');
      // Same convs, and the norms' weights and biases made non-trivial: only the statistics may differ.
      const rng = new Rng(7);
      const weights = Object.fromEntries(
        batch
          .namedParameters()
          .map(([name, p]) => [
            name,
            name.endsWith('.weight') && p.variable.rank === 1
              ? rng.uniformTensor(p.variable.shape, 0.5, 1.5)
              : tf.clone(p.variable),
          ]),
      );
      batch.loadStateDict(weights);
      const { missing, unexpected } = instance.loadStateDict(weights, { strict: false });
      expect(missing).toEqual([]);
      expect(unexpected.length).toBeGreaterThan(0);
      expect(unexpected.every((k) => /running_mean|running_var|num_batches_tracked/.test(k))).toBe(true);
      const x = tf.add(tf.mul(tf.randomNormal([1, 64, 64, 3], 0, 1, 'float32', 8), 2), 0.5);
      const trained = batch.train().forward(x);
      const evaluated = instance.eval().forward(x);
      for (const f of ['C2', 'C3', 'C4', 'C5'] as const)
        assertAllClose(evaluated[f]!, trained[f]!, { atol: 1e-3, rtol: 1e-3, name: f });
      // Evaluation with running statistics is not that: the check above can fail.
      const running = batch.eval().forward(x);
      expect(tf.max(tf.abs(tf.sub(running.C5!, trained.C5!))).dataSync()[0]).toBeGreaterThan(1e-2);
      await assertNoTensorLeak(() => {
        const { value, grads } = tf.variableGrads(
          () => tf.mean(tf.square(instance.forward(x).C5!)) as tf.Scalar,
          instance.trainableVariables(),
        );
        const sizes = tf.tidy(() => Object.values(grads).map((g) => tf.sum(tf.abs(g)).dataSync()[0]));
        expect(sizes.every((size) => Number.isFinite(size)) && sizes.some((size) => size > 0)).toBe(true);
        tf.dispose([value, ...Object.values(grads)]);
      });
      expect(() => build('group' as 'batch')).toThrow(/norm.*batch.*frozen.*instance.*group/);
      tf.dispose([
        x,
        ...Object.values(weights),
        ...Object.values(trained),
        ...Object.values(evaluated),
        ...Object.values(running),
      ]);
      batch.dispose();
      instance.dispose();
    });
  }
});
