import * as tf from '@tensorflow/tfjs-core';
import { hasFusedKernels, runFused } from './fused';
import { TRANSPOSE_2D, registerCoreKernels } from './kernels/register';

/** a [M, N] -> [N, M]: a tiled loop on cpu and wasm (about twice tfjs's Transpose on wasm), tf.transpose elsewhere. */
export function transpose2d(a: tf.Tensor2D): tf.Tensor2D {
  if (!hasFusedKernels()) return tf.transpose(a);
  registerCoreKernels();
  return runFused(TRANSPOSE_2D, { a }, {})[0] as tf.Tensor2D;
}
