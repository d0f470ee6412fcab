import * as tf from '@tensorflow/tfjs-core';
import { addBias, argumentError, hasFusedKernels, type ConvGeometry } from '@deformjs/core';
import { maskedDenseConv } from './composed';
import { im2colRows, scatterRows } from './kernels';
import { checkSparseConv2dArguments, type ActiveIndices, type SparseConv2dOptions } from './validate';

/**
 * The flat positions (n*H*W + h*W + w, increasing) where `mask` [N, H, W] or [N, H, W, 1] is nonzero: the
 * positions a sparse convolution computes. Reads the mask back synchronously.
 */
export function activeIndices(mask: tf.Tensor): Int32Array {
  if (!(mask instanceof tf.Tensor)) throw argumentError('activeIndices', 'mask', 'a tensor', mask);
  if (!(mask.rank === 3 || (mask.rank === 4 && mask.shape[3] === 1)))
    throw argumentError('activeIndices', 'mask', 'shape [N, H, W] or [N, H, W, 1]', mask.shape);
  const values = mask.dataSync();
  let count = 0;
  for (let i = 0; i < values.length; i++) if (values[i] !== 0) count++;
  const out = new Int32Array(count);
  for (let i = 0, a = 0; i < values.length; i++) if (values[i] !== 0) out[a++] = i;
  return out;
}

/**
 * A 2-d convolution (NHWC, HWIO filter, PyTorch's symmetric zero padding) computed only at the given output
 * positions: the im2col rows of the active positions times the filter, scattered into a zero map.
 * Returns [N, Ho, Wo, O], zero (not even the bias) at every other position. Differentiable in x, filter and bias.
 *
 * On cpu and wasm the rows are gathered and scattered by fused kernels and multiplied by the backend's matMul
 * (XNNPACK on wasm), so the cost follows the number of active positions. Elsewhere it is the dense convolution
 * times the active-position indicator (same values and gradients, no saving).
 */
export function sparseConv2d(
  x: tf.Tensor,
  filter: tf.Tensor,
  indices: ActiveIndices,
  options: SparseConv2dOptions = {},
): tf.Tensor4D {
  const { geometry, indices: flat } = checkSparseConv2dArguments(x, filter, indices, options);
  const bias = options.bias ?? null;
  return tf.tidy(() =>
    hasFusedKernels()
      ? fusedSparseConv(x, filter, bias, flat, geometry)
      : maskedDenseConv(x, filter, bias, flat, geometry),
  );
}

function fusedSparseConv(
  x: tf.Tensor,
  filter: tf.Tensor,
  bias: tf.Tensor | null,
  flat: Int32Array,
  g: ConvGeometry,
): tf.Tensor4D {
  const O = g.outChannels;
  // Every step has a gradient: the row kernels' (kernels.ts) and tfjs's (matMul, core's addBias).
  const indices = tf.tensor1d(flat, 'int32');
  const K = g.kernel[0] * g.kernel[1] * g.inChannels;
  const rows = tf.matMul(im2colRows(x, indices, g), tf.reshape(filter, [K, O]) as tf.Tensor2D);
  const scattered = scatterRows(bias ? addBias(rows, bias) : rows, indices, g.batch * g.outHeight * g.outWidth);
  return tf.reshape(scattered, [g.batch, g.outHeight, g.outWidth, O]) as tf.Tensor4D;
}
