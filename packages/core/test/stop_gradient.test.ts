import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { initBackend, stopGradient } from '../src/index';
import { TEST_BACKENDS, assertNoTensorLeak } from '../src/testing';

for (const backend of TEST_BACKENDS) {
  describe(`stopGradient on ${backend}`, () => {
    it('keeps values and dtype and passes no gradient, also through integer gather indices', async () => {
      await initBackend(backend);
      const x = tf.tensor1d([0.2, 1.7, 2.4]);
      const table = tf.tensor1d([10, 20, 30, 40]);
      await assertNoTensorLeak(() => {
        const indices = tf.cast(x, 'int32');
        const detached = stopGradient(indices);
        expect(detached.dtype).toBe('int32');
        expect(Array.from(detached.dataSync())).toEqual([0, 1, 2]);
        // d/dx of x * 3 + detach(x * x) is 3: the detached branch adds nothing.
        const dx = tf.grad((t: tf.Tensor) => tf.sum(tf.add(tf.mul(t, 3), stopGradient(tf.mul(t, t)))))(x);
        expect(Array.from(dx.dataSync())).toEqual([3, 3, 3]);
        // Gather at indices computed from x: the gradient reaches the table and x gets only its direct term.
        const [dxGather, dTable] = tf.grads((t: tf.Tensor, v: tf.Tensor) =>
          tf.sum(tf.add(tf.gather(v, stopGradient(tf.cast(tf.floor(t), 'int32'))), t)),
        )([x, table]);
        expect(Array.from(dxGather.dataSync())).toEqual([1, 1, 1]);
        expect(Array.from(dTable.dataSync())).toEqual([1, 1, 1, 0]);
        tf.dispose([indices, detached, dx, dxGather, dTable]);
      });
      tf.dispose([x, table]);
    });
  });
}
