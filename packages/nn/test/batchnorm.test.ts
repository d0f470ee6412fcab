import * as tf from '@tensorflow/tfjs-core';
// After tfjs-core itself: imported first, it leaves tfjs's chained ops (tensor.clone) unset.
import { describe, expect, it } from 'vitest';
import { initBackend, Rng } from '@deformjs/core';
import { TEST_BACKENDS, assertAllClose, assertNoTensorLeak } from '@deformjs/core/testing';
import { BatchNorm2d, Conv2d, FrozenBatchNorm2d, convNorm } from '../src/index';

/** Training-mode batch norm composed from tf ops, differentiated by autodiff: the reference. */
function reference(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps))), gamma), beta);
}

for (const backend of TEST_BACKENDS) {
  describe(`BatchNorm2d on ${backend}`, () => {
    it('training mode: output, closed-form gradients and running statistics match the composed reference and PyTorch rules', async () => {
      await initBackend(backend);
      const rng = new Rng(4);
      const bn = new BatchNorm2d(3);
      bn.weight.assign(tf.tensor([0.5, 1.5, -1]));
      bn.bias.assign(tf.tensor([0.1, 0, -0.2]));
      const x = tf.add(rng.normalTensor([2, 3, 5, 3], 0, 2), 1);
      const g = rng.normalTensor([2, 3, 5, 3]);
      tf.tidy(() => {
        const fn = (input: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(reference(input, w, b, 1e-5), g));
        const [dxRef, dwRef, dbRef] = tf.grads(fn)([x, bn.weight, bn.bias]);
        const yRef = reference(x, bn.weight, bn.bias, 1e-5);
        const dx = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(bn.forward(input), g)))(x);
        const { grads } = tf.variableGrads(() => tf.sum(tf.mul(bn.forward(x), g)) as tf.Scalar, [bn.weight, bn.bias]);
        const y = bn.forward(x);
        assertAllClose(y, yRef, { atol: 1e-5, name: 'y' });
        assertAllClose(dx, dxRef, { atol: 1e-5, name: 'dx' });
        assertAllClose(grads[bn.weight.name], dwRef, { atol: 1e-4, name: 'dgamma' });
        assertAllClose(grads[bn.bias.name], dbRef, { atol: 1e-4, name: 'dbeta' });
      });
      await assertNoTensorLeak(() => {
        const { value, grads } = tf.variableGrads(
          () => tf.sum(tf.mul(bn.forward(x), g)) as tf.Scalar,
          [bn.weight, bn.bias],
        );
        tf.dispose([value, ...Object.values(grads)]);
      });
      // Four training forwards: running = 0.9 * running + 0.1 * batch statistic (variance unbiased).
      const { mean, variance } = tf.moments(x, [0, 1, 2]);
      const n = x.size / 3;
      const keep = 0.9 ** 4;
      assertAllClose(bn.runningMean, tf.mul(mean, 1 - keep), { atol: 1e-5, name: 'running_mean' });
      assertAllClose(bn.runningVar, tf.add(keep, tf.mul(tf.mul(variance, n / (n - 1)), 1 - keep)), {
        atol: 1e-5,
        name: 'running_var',
      });
      expect(bn.numBatchesTracked.dataSync()[0]).toBe(4);
      tf.dispose([x, g, mean, variance]);
      bn.dispose();
    });

    it('convNorm folds a fixed norm into the conv: same values and gradients as conv then norm then ReLU', async () => {
      await initBackend(backend);
      const rng = new Rng(6);
      const conv = new Conv2d(rng, 3, 4, 3, { stride: 2, padding: 1, bias: false });
      const norms = [new FrozenBatchNorm2d(4), new BatchNorm2d(4).eval()];
      const stats = {
        weight: rng.uniformTensor([4], 0.5, 1.5),
        bias: rng.normalTensor([4]),
        running_mean: rng.normalTensor([4]),
        running_var: rng.uniformTensor([4], 0.5, 2),
      };
      for (const norm of norms) norm.loadStateDict(stats, { strict: false });
      const x = rng.normalTensor([2, 7, 6, 3]);
      for (const norm of norms) {
        await assertNoTensorLeak(() => {
          tf.tidy(() => {
            const unfused = (input: tf.Tensor, w: tf.Tensor) =>
              tf.relu(norm.forward(tf.conv2d(input as tf.Tensor4D, w as tf.Tensor4D, 2, 1)));
            const fused = (input: tf.Tensor) => convNorm(conv, norm, input, true);
            assertAllClose(fused(x), unfused(x, conv.weight), { atol: 1e-5, name: 'value' });
            const [dxRef, dwRef] = tf.grads((i: tf.Tensor, w: tf.Tensor) => tf.sum(tf.square(unfused(i, w))))([
              x,
              conv.weight,
            ]);
            const dx = tf.grad((i: tf.Tensor) => tf.sum(tf.square(fused(i))))(x);
            const { grads } = tf.variableGrads(() => tf.sum(tf.square(fused(x))) as tf.Scalar, [conv.weight]);
            assertAllClose(dx, dxRef, { atol: 1e-4, name: 'dx' });
            assertAllClose(grads[conv.weight.name], dwRef, { atol: 1e-3, rtol: 1e-4, name: 'dw' });
          });
        });
      }
      tf.dispose([x, ...Object.values(stats)]);
      conv.dispose();
      norms.forEach((n) => n.dispose());
    });
  });
}
