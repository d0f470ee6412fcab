import * as tf from '@tensorflow/tfjs-core';
import { hasFusedKernels, registerFusedKernel, runFused } from './fused';
import { transpose2d as transpose2dImpl } from './kernels/conv_impl';
import { name, version } from '../package.json';

const TRANSPOSE_2D = 'DeformjsTranspose2d';

/** a [M, N] -> [N, M]: a tiled loop on cpu and wasm (about twice tfjs's Transpose on wasm), tf.transpose elsewhere. */
export function transpose2d(a: tf.Tensor2D): tf.Tensor2D {
  if (!hasFusedKernels()) return tf.transpose(a);
  registerFusedKernel<object>({
    kernelName: TRANSPOSE_2D,
    owner: `${name}@${version}`,
    outputs: ([[M, N]]) => [{ shape: [N, M] }],
    compute: ([values], [out], [[M, N]]) => transpose2dImpl(values as Float32Array, M, N, out as Float32Array),
  });
  return runFused(TRANSPOSE_2D, { a }, {})[0] as tf.Tensor2D;
}

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
