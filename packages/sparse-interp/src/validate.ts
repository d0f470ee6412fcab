import * as tf from '@tensorflow/tfjs-core';
import { argumentError, assertDtype, checkShapes, convGeometry, pair, type ConvGeometry } from '@deformjs/core';

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

/** Checks the arguments of `sparseConv2d` and resolves its geometry and indices. */
export function checkSparseConv2dArguments(
  x: tf.Tensor,
  filter: tf.Tensor,
  indices: ActiveIndices,
  options: SparseConv2dOptions = {},
): { geometry: ConvGeometry; indices: Int32Array } {
  for (const [name, t] of [
    ['x', x],
    ['filter', filter],
  ] as const) {
    if (!(t instanceof tf.Tensor)) throw argumentError(OP, name, 'a tensor', t);
    assertDtype(OP, name, t.dtype, ['float32']);
  }
  const { kh, kw, O } = checkShapes(OP, [
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
  const geometry = convGeometry(
    OP,
    x.shape,
    { kernel: [kh, kw], outChannels: O, arg: 'filter' },
    { stride: strides, padding: pad, dilation: dilations },
  );
  const { batch: N, outHeight: Ho, outWidth: Wo } = geometry;
  return { geometry, indices: readIndices(indices, N * Ho * Wo, `[${N}, ${Ho}, ${Wo}] (the output)`) };
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

/** Checks the arguments of `interpolate` (or `op`) and returns the channels C. */
export function checkInterpolateArguments(op: string, features: tf.Tensor, mask: tf.Tensor, sigma: tf.Tensor): number {
  for (const [name, t] of [
    ['features', features],
    ['mask', mask],
    ['sigma', sigma],
  ] as const) {
    if (!(t instanceof tf.Tensor)) throw argumentError(op, name, 'a tensor', t);
  }
  const { C } = checkShapes(op, [
    { name: 'features', shape: features.shape, expected: ['N', 'H', 'W', 'C'] },
    { name: 'mask', shape: mask.shape, expected: ['N', 'H', 'W', 1] },
  ]);
  if (sigma.size !== 1) throw argumentError(op, 'sigma', 'a scalar tensor', sigma.shape);
  return C;
}
