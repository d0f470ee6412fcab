import * as tf from '@tensorflow/tfjs-core';

/**
 * x [..., N] + bias [N], whose bias gradient sums dy over every other axis, and is zero when x is empty (the wasm
 * backend's Sum over an empty axis leaves its output unwritten).
 */
export const addBias = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [x, bias] = args as [tf.Tensor, tf.Tensor1D];
  return {
    value: tf.add(x, bias),
    gradFunc: (dy: tf.Tensor) => [
      dy,
      dy.size === 0 ? tf.zerosLike(bias) : tf.sum(tf.reshape(dy, [-1, bias.shape[0]]), 0),
    ],
  };
}) as <T extends tf.Tensor>(x: T, bias: tf.Tensor) => T;
