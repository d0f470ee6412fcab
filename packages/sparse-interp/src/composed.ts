import * as tf from '@tensorflow/tfjs-core';
import { conv2dNhwc, type ConvGeometry } from '@deformjs/core';
import { checkSparseConv2dArguments, type ActiveIndices, type SparseConv2dOptions } from './validate';

/**
 * `sparseConv2d` composed from tf ops with gradients on every backend: the dense convolution times the
 * active-position indicator (same values and gradients, no saving). What `sparseConv2d` runs on backends
 * without fused kernels.
 */
export function sparseConv2dComposed(
  x: tf.Tensor,
  filter: tf.Tensor,
  indices: ActiveIndices,
  options: SparseConv2dOptions = {},
): tf.Tensor4D {
  const { geometry, indices: flat } = checkSparseConv2dArguments(x, filter, indices, options);
  return tf.tidy(() => maskedDenseConv(x, filter, options.bias ?? null, flat, geometry));
}

export function maskedDenseConv(
  x: tf.Tensor,
  filter: tf.Tensor,
  bias: tf.Tensor | null,
  flat: Int32Array,
  g: ConvGeometry,
): tf.Tensor4D {
  const indicator = new Float32Array(g.batch * g.outHeight * g.outWidth);
  for (const q of flat) indicator[q] = 1;
  let y: tf.Tensor = conv2dNhwc(x as tf.Tensor4D, filter as tf.Tensor4D, g.stride, g.padding, g.dilation);
  if (bias) y = tf.add(y, bias);
  return tf.mul(y, tf.tensor4d(indicator, [g.batch, g.outHeight, g.outWidth, 1])) as tf.Tensor4D;
}

/**
 * The Gaussian interpolation (`interpolate`) composed from convolutions, differentiable in features, mask and
 * the kernel: what `interpolate` computes and `interpolateSampled` runs on backends without fused kernels.
 */
export function composedInterpolate(features: tf.Tensor, mask: tf.Tensor, kernel: tf.Tensor2D): tf.Tensor4D {
  const [size] = kernel.shape;
  const C = features.shape[3] as number;
  const g4 = tf.reshape(kernel, [size, size, 1, 1]) as tf.Tensor4D;
  const pad = (size - 1) / 2;
  const m = mask as tf.Tensor4D;
  const masked = tf.mul(features, m) as tf.Tensor4D;
  const numerator = tf.depthwiseConv2d(masked, tf.tile(g4, [1, 1, C, 1]) as tf.Tensor4D, 1, pad);
  const denominator = tf.add(tf.conv2d(m, g4, 1, pad), 1e-5);
  return tf.add(masked, tf.mul(tf.sub(1, m), tf.div(numerator, denominator))) as tf.Tensor4D;
}
