import * as tf from '@tensorflow/tfjs-core';
import { describe, it } from 'vitest';
import { addBias, initBackend, transpose2d } from '../src/index';
import { assertAllClose, assertNoTensorLeak, TEST_BACKENDS } from '../src/testing';

describe.each(TEST_BACKENDS)('matmul gradient on empty batches, addBias and transpose2d on %s', (backend) => {
  it('give zero gradients for empty sums and equal the stock ops otherwise', async () => {
    await initBackend(backend);
    for (const rows of [5, 0]) {
      await assertNoTensorLeak(() =>
        tf.tidy(() => {
          const a = tf.tensor2d(
            Array.from({ length: rows * 7 }, (_, i) => Math.sin(i)),
            [rows, 7],
          );
          const b = tf.tensor2d(
            Array.from({ length: 7 * 3 }, (_, i) => Math.cos(i)),
            [7, 3],
          );
          const bias = tf.tensor1d([0.5, -1, 2]);
          const cotangent = tf.tensor2d(
            Array.from({ length: rows * 3 }, (_, i) => i - 4),
            [rows, 3],
          );
          const f = (x: tf.Tensor, y: tf.Tensor, z: tf.Tensor) =>
            tf.sum(tf.mul(addBias(tf.matMul(x, y), z), cotangent));
          assertAllClose(addBias(tf.matMul(a, b), bias), tf.add(tf.matMul(a, b), bias), {
            name: `value, ${rows} rows`,
          });
          const [ga, gb, gbias] = tf.grads(f)([a, b, bias]);
          const expectedB = tf.matMul(tf.transpose(a), cotangent);
          assertAllClose(ga, tf.matMul(cotangent, tf.transpose(b)), { name: 'dA' });
          // With no rows these are empty sums: zero (the wasm kernels would leave them unwritten).
          assertAllClose(gb, rows === 0 ? tf.zerosLike(b) : expectedB, { name: 'dB' });
          assertAllClose(gbias, rows === 0 ? tf.zerosLike(bias) : tf.sum(cotangent, 0), { name: 'dBias' });
          assertAllClose(transpose2d(b), tf.transpose(b), { atol: 0, rtol: 0, name: 'transpose' });
        }),
      );
    }
  });
});
