import * as tf from '@tensorflow/tfjs-core';
import { transpose2d } from './transpose2d';

/** Swaps the last two axes (a matrix through the tiled fused transpose). */
function transposeLast(x: tf.Tensor): tf.Tensor {
  if (x.rank === 2) return transpose2d(x as tf.Tensor2D);
  const perm = x.shape.map((_, i) => i);
  [perm[x.rank - 2], perm[x.rank - 1]] = [perm[x.rank - 1], perm[x.rank - 2]];
  return tf.transpose(x, perm);
}

/**
 * a' b' with the transposes materialised, so the product itself runs untransposed. An empty inner dimension
 * gives zeros explicitly: the wasm matmul leaves its output unwritten there.
 */
function product(a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean): tf.Tensor {
  const left = transposeA ? transposeLast(a) : a;
  const right = transposeB ? transposeLast(b) : b;
  if (left.shape[left.rank - 1] === 0) {
    return tf.zeros([...left.shape.slice(0, -1), right.shape[right.rank - 1]]);
  }
  return tf.matMul(left, right);
}

/**
 * BatchMatMul's gradient, the same products as tfjs-core's but with explicit transposes: the wasm backend
 * runs a matMul with transposeA (every weight gradient, x^T dy) on a slow path, about 10x slower than a
 * transpose followed by an untransposed product.
 */
export const batchMatMulGradConfig: tf.GradConfig = {
  kernelName: 'BatchMatMul',
  inputsToSave: ['a', 'b'],
  gradFunc: (dy, saved, attrs) => {
    const [a, b] = saved;
    const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
    const g = dy as tf.Tensor;
    if (!transposeA && !transposeB) return { a: () => product(g, b, false, true), b: () => product(a, g, true, false) };
    if (!transposeA && transposeB) return { a: () => product(g, b, false, false), b: () => product(g, a, true, false) };
    if (transposeA && !transposeB) return { a: () => product(b, g, false, true), b: () => product(a, g, false, false) };
    return { a: () => product(b, g, true, true), b: () => product(g, a, true, true) };
  },
};
