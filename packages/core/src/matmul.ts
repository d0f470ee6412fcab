import * as tf from '@tensorflow/tfjs-core';
import { hasFusedKernels, registerFusedKernel, runFused } from './fused';
import { transpose2d as transpose2dImpl } from './kernels/conv_impl';

const TRANSPOSE_2D = 'DeformjsTranspose2d';

/** a [M, N] -> [N, M]: a tiled loop on cpu and wasm (about twice tfjs's Transpose on wasm), tf.transpose elsewhere. */
export function transpose2d(a: tf.Tensor2D): tf.Tensor2D {
  if (!hasFusedKernels()) return tf.transpose(a);
  registerFusedKernel<object>({
    kernelName: TRANSPOSE_2D,
    outputs: ([[M, N]]) => [{ shape: [N, M] }],
    compute: ([values], [out], [[M, N]]) => transpose2dImpl(values as Float32Array, M, N, out as Float32Array),
  });
  return runFused(TRANSPOSE_2D, { a }, {})[0] as tf.Tensor2D;
}

/**
 * a [M, K] @ b [K, N] whose gradients are products of untransposed operands too: dA = dy @ b^T, dB = a^T @ dy
 * with the transposes made explicit. tfjs's MatMul gradient asks for transposeA / transposeB, which the wasm
 * backend runs in a scalar loop instead of XNNPACK, many times slower.
 */
export const matMul2d = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [a, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [a2, b2] = saved as [tf.Tensor2D, tf.Tensor2D];
      const dy2 = dy as tf.Tensor2D;
      const da = tf.matMul(dy2, transpose2d(b2));
      // With no rows the wasm matmul leaves its output unwritten: the empty sum is zero.
      const db = a2.shape[0] === 0 ? tf.zerosLike(b2) : tf.matMul(transpose2d(a2), dy2);
      return [da, db];
    },
  };
}) as (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D;

/**
 * x [..., N] + bias [N], whose bias gradient sums dy over every other axis, and is zero when x is empty (the wasm
 * backend's Sum over an empty axis leaves its output unwritten).
 */
export const addBias = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [x, bias] = args as [tf.Tensor, tf.Tensor1D];
  return {
    value: tf.add(x, bias),
    gradFunc: (dy: tf.Tensor) => [dy, dy.size === 0 ? tf.zerosLike(bias) : tf.sum(tf.reshape(dy, [-1, bias.shape[0]]), 0)],
  };
}) as <T extends tf.Tensor>(x: T, bias: tf.Tensor) => T;
