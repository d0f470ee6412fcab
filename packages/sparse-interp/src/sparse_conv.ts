import * as tf from '@tensorflow/tfjs-core';
import {
  addBias,
  argumentError,
  assertDtype,
  checkShapes,
  conv2dNhwc,
  convOutputSize,
  hasFusedKernels,
  pair,
} from '@deformjs/core';
import { im2colRows, scatterRows } from './kernels';
import type { SparseConvGeometry } from './sparse_impl';

const OP = 'sparseConv2d';

export interface SparseConv2dOptions {
  strides?: number | [number, number];
  /** Zero padding of each side, as PyTorch's `padding`: a number or [padHeight, padWidth]. */
  pad?: number | [number, number];
  dilations?: number | [number, number];
  /** [O], added at the active positions only. */
  bias?: tf.Tensor | null;
}

/** Flat output positions n*Ho*Wo + ho*Wo + wo, strictly increasing: a tensor, an Int32Array or numbers. */
export type ActiveIndices = tf.Tensor | Int32Array | readonly number[];

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

/** Checks the arguments of `sparseConv2d` and resolves its geometry and indices. */
export function checkSparseConv2dArguments(
  x: tf.Tensor,
  filter: tf.Tensor,
  indices: ActiveIndices,
  options: SparseConv2dOptions = {},
): { geometry: SparseConvGeometry; outChannels: number; indices: Int32Array } {
  for (const [name, t] of [
    ['x', x],
    ['filter', filter],
  ] as const) {
    if (!(t instanceof tf.Tensor)) throw argumentError(OP, name, 'a tensor', t);
    assertDtype(OP, name, t.dtype, ['float32']);
  }
  const { N, H, W, C, kh, kw, O } = checkShapes(OP, [
    { name: 'x', shape: x.shape, expected: ['N', 'H', 'W', 'C'] },
    { name: 'filter', shape: filter.shape, expected: ['kh', 'kw', 'C', 'O'] },
  ]);
  const strides = pair(OP, 'strides', options.strides ?? 1);
  const pad = pair(OP, 'pad', options.pad ?? 0, 0);
  const dilations = pair(OP, 'dilations', options.dilations ?? 1);
  const bias = options.bias ?? null;
  if (bias !== null) {
    if (!(bias instanceof tf.Tensor)) throw argumentError(OP, 'bias', 'a tensor or null', bias);
    checkShapes(OP, [{ name: 'bias', shape: bias.shape, expected: ['O'] }], { O });
  }
  const [Ho, Wo] = convOutputSize(
    OP,
    'filter',
    `kernel ${kh} x ${kw} with dilations [${dilations.join(', ')}]`,
    [H, W],
    [kh, kw],
    strides,
    pad,
    dilations,
  );
  const flat = readIndices(indices, N * Ho * Wo, `[${N}, ${Ho}, ${Wo}] (the output)`);
  const geometry: SparseConvGeometry = {
    batch: N,
    inHeight: H,
    inWidth: W,
    inChannels: C,
    outHeight: Ho,
    outWidth: Wo,
    kernel: [kh, kw],
    strides,
    pad,
    dilations,
  };
  return { geometry, outChannels: O, indices: flat };
}

function readIndices(indices: ActiveIndices, size: number, what: string): Int32Array {
  let flat: Int32Array;
  if (indices instanceof tf.Tensor) {
    if (indices.rank !== 1) throw argumentError(OP, 'indices', 'a rank-1 tensor', indices.shape);
    assertDtype(OP, 'indices', indices.dtype, ['int32']);
    flat = indices.dataSync() as Int32Array;
  } else if (indices instanceof Int32Array || Array.isArray(indices)) {
    // Checked before the int32 copy, which would wrap 2^32 + 1 to 1.
    const bad = Array.prototype.findIndex.call(indices, (v: number) => !Number.isInteger(v) || v < 0 || v >= size);
    if (bad >= 0)
      throw argumentError(
        OP,
        'indices',
        `integers in [0, ${size}) (flat positions of ${what})`,
        `${indices[bad]} at ${bad}`,
      );
    flat = Int32Array.from(indices);
  } else {
    throw argumentError(OP, 'indices', 'an int32 tensor, an Int32Array or an array of integers', indices);
  }
  for (let a = 0; a < flat.length; a++) {
    if (flat[a] < 0 || flat[a] >= size)
      throw argumentError(OP, 'indices', `flat positions in [0, ${size}) of ${what}`, `${flat[a]} at ${a}`);
    if (a > 0 && flat[a] <= flat[a - 1])
      throw argumentError(OP, 'indices', 'strictly increasing positions', `${flat[a - 1]} then ${flat[a]} at ${a}`);
  }
  return flat;
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
  const { geometry, outChannels, indices: flat } = checkSparseConv2dArguments(x, filter, indices, options);
  const bias = options.bias ?? null;
  return tf.tidy(() =>
    hasFusedKernels()
      ? fusedSparseConv(x, filter, bias, flat, geometry, outChannels)
      : maskedDenseConv(x, filter, bias, flat, geometry),
  );
}

function fusedSparseConv(
  x: tf.Tensor,
  filter: tf.Tensor,
  bias: tf.Tensor | null,
  flat: Int32Array,
  g: SparseConvGeometry,
  O: number,
): tf.Tensor4D {
  // Every step has a gradient: the row kernels' (kernels.ts) and tfjs's (matMul, core's addBias).
  const indices = tf.tensor1d(flat, 'int32');
  const K = g.kernel[0] * g.kernel[1] * g.inChannels;
  const rows = tf.matMul(im2colRows(x, indices, g), tf.reshape(filter, [K, O]) as tf.Tensor2D);
  const scattered = scatterRows(bias ? addBias(rows, bias) : rows, indices, g.batch * g.outHeight * g.outWidth);
  return tf.reshape(scattered, [g.batch, g.outHeight, g.outWidth, O]) as tf.Tensor4D;
}

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

function maskedDenseConv(
  x: tf.Tensor,
  filter: tf.Tensor,
  bias: tf.Tensor | null,
  flat: Int32Array,
  g: SparseConvGeometry,
): tf.Tensor4D {
  const indicator = new Float32Array(g.batch * g.outHeight * g.outWidth);
  for (const q of flat) indicator[q] = 1;
  let y: tf.Tensor = conv2dNhwc(x as tf.Tensor4D, filter as tf.Tensor4D, g.strides, g.pad, g.dilations);
  if (bias) y = tf.add(y, bias);
  return tf.mul(y, tf.tensor4d(indicator, [g.batch, g.outHeight, g.outWidth, 1])) as tf.Tensor4D;
}
