import * as tf from '@tensorflow/tfjs-core';
import { argumentError, assertDtype, checkShapes, hasFusedKernels, runFused } from '@deformjs/core';
import { checkDeltas, resolveGeometry, type DeformKernelGeometry, type DeformKernelOptions } from './geometry';
import { LOCAL_DEFORM_KERNEL, registerLocalDeformKernels, type LocalDeformKernelAttrs } from './kernels';
import { clampDeltasToScope, contractTaps, imageColumns, resampleKernel } from './resampling';

/**
 * Deformable Kernels, local variant (hangg7/deformable-kernels `SampleDepthwise`), NHWC. Every output position
 * resamples its own k x k kernel from the larger scope kernel and convolves the input with it, depthwise.
 *
 * input [N, H, W, C]; weight [scopeH, scopeW, C, 1] (PyTorch (C, 1, scopeH, scopeW)); deltas
 * [N, Ho, Wo, R*kh*kw*2], for rotation group g and tap t = i*kw + j channel g*K*2 + 2t the dh and + 1 the dw (the
 * official rotation layout, NHWC). Channel c uses rotation group c % R. Tap (i, j) of output (ho, wo) multiplies
 * the input at (ho*strideH - padH + i*dilH, wo*strideW - padW + j*dilW) (zero outside) by the scope kernel read
 * bilinearly at (i + dh + (scopeH - kh)/2, j + dw + (scopeW - kw)/2), zero unless inside (-1, scopeH) x
 * (-1, scopeW). Returns
 * [N, Ho, Wo, C]. Differentiable in input, weight and deltas.
 *
 * With zero deltas and scope - k even this is tf.depthwiseConv2d with the scope kernel's centre k x k crop;
 * with scope - k odd the taps fall between scope pixels, and the kernel is the scope kernel averaged over 2 x 2
 * neighbourhoods (for scope = k + 1, its 2 x 2 average pool).
 */
export function deformKernelDepthwise(
  input: tf.Tensor,
  weight: tf.Tensor,
  deltas: tf.Tensor,
  options: DeformKernelOptions,
): tf.Tensor4D {
  const op = 'deformKernelDepthwise';
  const g = resolveGeometry(op, input, weight, options);
  const groups = checkDeltas(op, 'deltas', deltas, g);
  if (!hasFusedKernels()) return deformedKernelConv(input, weight, null, deltas, groups, g);
  // One pass: each position's kernel is resampled and applied without a kernel or column tensor in between.
  registerLocalDeformKernels();
  const attrs: LocalDeformKernelAttrs = {
    kernel: g.kernel,
    stride: g.stride,
    padding: g.padding,
    dilation: g.dilation,
  };
  return runFused(LOCAL_DEFORM_KERNEL, { input, weight, deltas }, attrs)[0] as tf.Tensor4D;
}

/**
 * deformKernelDepthwise composed from two reads through the sampling core (the path of backends without fused
 * kernels), on every backend: the check of the fused kernel.
 */
export function deformKernelDepthwiseComposed(
  input: tf.Tensor,
  weight: tf.Tensor,
  deltas: tf.Tensor,
  options: DeformKernelOptions,
): tf.Tensor4D {
  const op = 'deformKernelDepthwiseComposed';
  const g = resolveGeometry(op, input, weight, options);
  return deformedKernelConv(input, weight, null, deltas, checkDeltas(op, 'deltas', deltas, g), g);
}

/**
 * DeformKernelConv2d's op (the official `DeformableSampleDepthwise`), NHWC: the input is read bilinearly at
 * image-space offsets (as in DCN) and the kernel at kernel-space deltas. `offsets` [N, Ho, Wo, kh*kw*2]: channel
 * 2t the dh and 2t + 1 the dw of tap t (one deformable group); a sample counts only inside (-1, H) x (-1, W).
 * `deltas` as in deformKernelDepthwise, or null for the undeformed taps (what the official module passes).
 * Differentiable in input, weight, offsets and deltas.
 */
export function deformKernelConv2d(
  input: tf.Tensor,
  weight: tf.Tensor,
  offsets: tf.Tensor,
  deltas: tf.Tensor | null,
  options: DeformKernelOptions,
): tf.Tensor4D {
  const op = 'deformKernelConv2d';
  const g = resolveGeometry(op, input, weight, options);
  if (!(offsets instanceof tf.Tensor)) throw argumentError(op, 'offsets', 'a tensor', offsets);
  assertDtype(op, 'offsets', offsets.dtype, ['float32']);
  const K = g.kernel[0] * g.kernel[1];
  checkShapes(op, [{ name: 'offsets', shape: offsets.shape, expected: ['N', 'Ho', 'Wo', 2 * K] }], {
    N: g.batch,
    Ho: g.outHeight,
    Wo: g.outWidth,
  });
  if (deltas !== null && !(deltas instanceof tf.Tensor)) throw argumentError(op, 'deltas', 'a tensor or null', deltas);
  const groups = deltas ? checkDeltas(op, 'deltas', deltas, g) : 1;
  return deformedKernelConv(input, weight, offsets, deltas, groups, g);
}

/**
 * The per-position kernels resampled from the scope kernel at `deltas` (or its undeformed taps), applied to
 * the image read at the taps moved by `offsets` (or not moved).
 */
function deformedKernelConv(
  input: tf.Tensor,
  weight: tf.Tensor,
  offsets: tf.Tensor | null,
  deltas: tf.Tensor | null,
  groups: number,
  g: DeformKernelGeometry,
): tf.Tensor4D {
  return tf.tidy(() => {
    const taps2 = groups * 2 * g.kernel[0] * g.kernel[1];
    const perPosition = deltas ? tf.reshape(deltas, [g.batch, g.outHeight * g.outWidth, taps2]) : null;
    const kernels = resampleKernel(weight, perPosition, groups, g);
    return contractTaps(imageColumns(input, offsets, groups, g), kernels, g);
  });
}

/**
 * Deformable Kernels, global variant (the official `GlobalDeformKernel2d` after its fc), NHWC: one k x k kernel
 * per image, resampled from the scope kernel at the taps shifted by `deltas` [N, kh*kw*2] ((dh, dw) per tap),
 * positions clamped to [0, scopeH - 1] x [0, scopeW - 1], then a per-image depthwise convolution. Differentiable
 * in input, weight and deltas (zero where the clamp is active). The official code clamps both axes to
 * scope[0] - 1; the two agree for square scopes.
 */
export function globalDeformKernelDepthwise(
  input: tf.Tensor,
  weight: tf.Tensor,
  deltas: tf.Tensor,
  options: DeformKernelOptions,
): tf.Tensor4D {
  const op = 'globalDeformKernelDepthwise';
  const g = resolveGeometry(op, input, weight, options);
  if (!(deltas instanceof tf.Tensor)) throw argumentError(op, 'deltas', 'a tensor', deltas);
  assertDtype(op, 'deltas', deltas.dtype, ['float32']);
  const K = g.kernel[0] * g.kernel[1];
  checkShapes(op, [{ name: 'deltas', shape: deltas.shape, expected: ['N', 2 * K] }], { N: g.batch });
  return tf.tidy(() => {
    const kernels = resampleKernel(
      weight,
      tf.reshape(clampDeltasToScope(deltas, g.kernel, g.scope, 1), [1, g.batch, 2 * K]),
      1,
      g,
    ); // [1, N, K, 1, C]
    return perImageDepthwise(input, tf.reshape(kernels, [g.batch, K, g.inChannels]), g);
  });
}

/**
 * input [N, H, W, C] convolved depthwise with image n's own kernel kernels[n] ([N, K, C]). With dilation 1 this
 * is one tf.depthwiseConv2d over N*C channels (the official grouped-conv trick); dilated, it reads columns
 * through the sampling core (tfjs's depthwise gradient refuses dilation > 1).
 */
function perImageDepthwise(input: tf.Tensor, kernels: tf.Tensor, g: DeformKernelGeometry): tf.Tensor4D {
  const {
    batch: N,
    inHeight: H,
    inWidth: W,
    inChannels: C,
    kernel: [kh, kw],
    outHeight: Ho,
    outWidth: Wo,
  } = g;
  if (g.dilation[0] > 1 || g.dilation[1] > 1) {
    return contractTaps(imageColumns(input, null, 1, g), tf.reshape(kernels, [N, 1, kh * kw, 1, C]), g);
  }
  const stacked = tf.reshape(tf.transpose(input, [1, 2, 0, 3]), [1, H, W, N * C]) as tf.Tensor4D;
  const filter = tf.reshape(tf.transpose(tf.reshape(kernels, [N, kh, kw, C]), [1, 2, 0, 3]), [
    kh,
    kw,
    N * C,
    1,
  ]) as tf.Tensor4D;
  const [ph, pw] = g.padding;
  const out = tf.depthwiseConv2d(stacked, filter, g.stride, [
    [0, 0],
    [ph, ph],
    [pw, pw],
    [0, 0],
  ]);
  return tf.transpose(tf.reshape(out, [Ho, Wo, N, C]), [2, 0, 1, 3]) as tf.Tensor4D;
}
