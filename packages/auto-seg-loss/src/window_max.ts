import type * as tf from '@tensorflow/tfjs-core';
import { hasFusedKernels } from '@deformjs/core';
import { windowMaxComposed } from './composed';
import { windowMaxKernel } from './kernels';

/**
 * The maximum over the (2r+1) x (2r+1) window around each pixel of [B, H, W, K], out-of-image pixels left
 * out (max_pool2d with stride 1 and padding r). One fused kernel with its gradient on cpu and wasm;
 * elsewhere composed from tf ops. The fused path also sidesteps tfjs-backend-wasm 4.22's MaxPoolGrad, which
 * returns wrong gradients for 3x3 windows and is slow for larger ones.
 */
export function windowMax(x: tf.Tensor, radius: number): tf.Tensor {
  return hasFusedKernels() ? windowMaxKernel(x, radius) : windowMaxComposed(x, radius);
}
