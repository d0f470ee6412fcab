import * as tf from '@tensorflow/tfjs-core';

/**
 * a [M, K] @ b [K, N] whose gradients are untransposed products too, of explicitly transposed operands:
 * dA = dy @ B^T, dB = A^T @ dy. The wasm backend sends a batched or transposed product to a scalar loop and an
 * untransposed 2-D one to XNNPACK; tfjs's own MatMul gradient asks for transposes.
 */
export const matMul2d = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [a, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [a2, b2] = saved as [tf.Tensor2D, tf.Tensor2D];
      return [tf.matMul(dy as tf.Tensor2D, tf.transpose(b2)), tf.matMul(tf.transpose(a2), dy as tf.Tensor2D)];
    },
  };
}) as (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D;
