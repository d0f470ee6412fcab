import * as tf from '@tensorflow/tfjs-core';
// After tfjs-core itself: imported first, it leaves tfjs's chained ops (tensor.clone) unset.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { describe, expect, it } from 'vitest';
import { initBackend, Rng } from '@deformjs/core';
import { TEST_BACKENDS, assertAllClose, assertNoTensorLeak } from '@deformjs/core/testing';
import { BatchNorm2d } from '../src/index';

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
        const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(bn.forward(x), g)) as tf.Scalar, [bn.weight, bn.bias]);
        const y = bn.forward(x);
        assertAllClose(y, yRef, { atol: 1e-5, name: 'y' });
        assertAllClose(dx, dxRef, { atol: 1e-5, name: 'dx' });
        assertAllClose(grads[bn.weight.name], dwRef, { atol: 1e-4, name: 'dgamma' });
        assertAllClose(grads[bn.bias.name], dbRef, { atol: 1e-4, name: 'dbeta' });
      });
      await assertNoTensorLeak(() => {
        const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(bn.forward(x), g)) as tf.Scalar, [bn.weight, bn.bias]);
        tf.dispose([value, ...Object.values(grads)]);
      });
      // Four training forwards: running = 0.9 * running + 0.1 * batch statistic (variance unbiased).
      const { mean, variance } = tf.moments(x, [0, 1, 2]);
      const n = x.size / 3;
      const keep = 0.9 ** 4;
      assertAllClose(bn.runningMean, tf.mul(mean, 1 - keep), { atol: 1e-5, name: 'running_mean' });
      assertAllClose(bn.runningVar, tf.add(keep, tf.mul(tf.mul(variance, n / (n - 1)), 1 - keep)), { atol: 1e-5, name: 'running_var' });
      expect(bn.numBatchesTracked.dataSync()[0]).toBe(4);
      tf.dispose([x, g, mean, variance]);
      bn.dispose();
    });
  });
}
