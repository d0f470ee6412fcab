import * as tf from '@tensorflow/tfjs-core';
import { describe, it } from 'vitest';
import { initBackend, Rng } from '../src/index';
import { TEST_BACKENDS, assertAllClose } from '../src/testing';

/** a' b' by broadcasting multiply and sum: its gradients come from Mul and Sum, not BatchMatMul. */
function composedMatMul(a: tf.Tensor, b: tf.Tensor, ta: boolean, tb: boolean): tf.Tensor {
  const last = (x: tf.Tensor) =>
    tf.transpose(
      x,
      [...x.shape.keys()].map((i) => (i < x.rank - 2 ? i : 2 * x.rank - 3 - i)),
    );
  const x = ta ? last(a) : a; // [..., M, K]
  const y = tb ? last(b) : b; // [..., K, N]
  return tf.sum(tf.mul(tf.expandDims(x, -1), tf.expandDims(y, -3)), -2);
}

for (const backend of TEST_BACKENDS) {
  describe(`BatchMatMul gradient on ${backend}`, () => {
    it('matches the composed product for every transpose combination, plain and batched', async () => {
      await initBackend(backend);
      const rng = new Rng(2);
      for (const batch of [[], [2]]) {
        for (const ta of [false, true]) {
          for (const tb of [false, true]) {
            const [m, k, n] = [3, 5, 4];
            const a = rng.normalTensor([...batch, ...(ta ? [k, m] : [m, k])]);
            const b = rng.normalTensor([...batch, ...(tb ? [n, k] : [k, n])]);
            const g = rng.normalTensor([...batch, m, n]);
            const [da, db] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y, ta, tb), g)))([
              a,
              b,
            ]);
            const [ra, rb] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(composedMatMul(x, y, ta, tb), g)))([
              a,
              b,
            ]);
            assertAllClose(da, ra, { atol: 1e-5, name: `da (batch ${batch}, ta ${ta}, tb ${tb})` });
            assertAllClose(db, rb, { atol: 1e-5, name: `db (batch ${batch}, ta ${ta}, tb ${tb})` });
            tf.dispose([a, b, g, da, db, ra, rb]);
          }
        }
      }
    });
  });
}
