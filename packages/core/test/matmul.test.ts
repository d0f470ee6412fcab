import * as tf from '@tensorflow/tfjs-core';
import { describe, it } from 'vitest';
import { addBias, initBackend, matMul2d, transpose2d } from '../src/index';
import { assertAllClose, assertNoTensorLeak, TEST_BACKENDS } from '../src/testing';

describe.each(TEST_BACKENDS)('matMul2d and addBias on %s', (backend) => {
  it('equal tf.matMul + tf.add in value and gradients, empty batches included', async () => {
    await initBackend(backend);
    for (const rows of [5, 0]) {
      await assertNoTensorLeak(() =>
        tf.tidy(() => {
          const a = tf.tensor2d(Array.from({ length: rows * 7 }, (_, i) => Math.sin(i)), [rows, 7]);
          const b = tf.tensor2d(Array.from({ length: 7 * 3 }, (_, i) => Math.cos(i)), [7, 3]);
          const bias = tf.tensor1d([0.5, -1, 2]);
          const cotangent = tf.tensor2d(Array.from({ length: rows * 3 }, (_, i) => i - 4), [rows, 3]);
          const ours = (x: tf.Tensor, y: tf.Tensor, z: tf.Tensor) => tf.sum(tf.mul(addBias(matMul2d(x as tf.Tensor2D, y as tf.Tensor2D), z), cotangent));
          const theirs = (x: tf.Tensor, y: tf.Tensor, z: tf.Tensor) => tf.sum(tf.mul(tf.add(tf.matMul(x, y), z), cotangent));
          assertAllClose(addBias(matMul2d(a, b), bias), tf.add(tf.matMul(a, b), bias), { name: `value, ${rows} rows` });
          const [ga, gb, gbias] = tf.grads(ours)([a, b, bias]);
          const [ea, eb, ebias] = tf.grads(theirs)([a, b, bias]);
          assertAllClose(ga, ea, { name: 'dA' });
          // tfjs's own gradients leave these unwritten on wasm for an empty batch; ours are the empty sums, zero.
          assertAllClose(gb, rows === 0 ? tf.zerosLike(b) : eb, { name: 'dB' });
          assertAllClose(gbias, rows === 0 ? tf.zerosLike(bias) : ebias, { name: 'dBias' });
          assertAllClose(transpose2d(b), tf.transpose(b), { atol: 0, rtol: 0, name: 'transpose' });
        }),
      );
    }
  });
});
