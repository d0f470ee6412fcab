import * as tf from '@tensorflow/tfjs-core';
import { argumentError, assertInteger, hasFusedKernels } from '@deformjs/core';
import { composedInterpolate } from './composed';
import { interpolateRows } from './kernels';
import { checkInterpolateArguments } from './validate';

/**
 * The paper's Gaussian interpolation kernel, size x size: sigma^2 / (2 pi) * exp(-sigma^2 d^2 / 2), d the
 * distance from the centre in pixels. Differentiable in sigma (a scalar tensor).
 */
export function gaussianKernel(sigma: tf.Tensor, size = 7): tf.Tensor2D {
  assertInteger('gaussianKernel', 'size', size, 1);
  if (size % 2 !== 1) throw argumentError('gaussianKernel', 'size', 'an odd kernel size', size);
  const s = (size - 1) / 2;
  const d2 = new Float32Array(size * size);
  for (let i = 0; i < size; i++) for (let j = 0; j < size; j++) d2[i * size + j] = (i - s) ** 2 + (j - s) ** 2;
  return tf.tidy(() => {
    const k = tf.square(sigma);
    return tf.reshape(tf.mul(tf.div(k, 2 * Math.PI), tf.exp(tf.mul(tf.mul(k, -0.5), tf.tensor2d(d2, [size, size])))), [
      size,
      size,
    ]) as tf.Tensor2D;
  });
}

/**
 * Fills the unsampled positions of `features` [N, H, W, C] from the sampled ones, weighted by `mask`
 * [N, H, W, 1] (binary at inference, relaxed in training):
 * `out = m*f + (1-m) * (G * (f*m)) / (G * m + 1e-5)`, `*` a zero-padded convolution with the Gaussian kernel G
 * of `sigma` (`gaussianKernel`). Exact where m = 1; features where m = 0 are never read. Differentiable in
 * features, mask and sigma.
 */
export function interpolate(features: tf.Tensor, mask: tf.Tensor, sigma: tf.Tensor, kernelSize = 7): tf.Tensor4D {
  checkInterpolateArguments('interpolate', features, mask, sigma);
  return tf.tidy(() => composedInterpolate(features, mask, gaussianKernel(tf.reshape(sigma, []), kernelSize)));
}

/**
 * `interpolate` for inference: on cpu and wasm one fused loop that skips unsampled neighbours and copies
 * positions with m = 1, so its cost falls with the density (the composed path convolves every position).
 * Not differentiable: training uses `interpolate`. Elsewhere it is `interpolate`.
 */
export function interpolateSampled(
  features: tf.Tensor,
  mask: tf.Tensor,
  sigma: tf.Tensor,
  kernelSize = 7,
): tf.Tensor4D {
  checkInterpolateArguments('interpolateSampled', features, mask, sigma);
  return tf.tidy(() => {
    const kernel = gaussianKernel(tf.reshape(sigma, []), kernelSize);
    if (!hasFusedKernels()) return composedInterpolate(features, mask, kernel);
    const [N, H, W, C] = features.shape;
    return interpolateRows(tf.reshape(features, [N * H * W, C]), mask, kernel);
  });
}
