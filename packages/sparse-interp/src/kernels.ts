import * as tf from '@tensorflow/tfjs-core';
import { registerFusedKernel, runFused, runSplit, type ConvGeometry, type SplitKernel } from '@deformjs/core';
import { interpolateRowsImpl } from './interpolate_impl';
import { name, version } from '../package.json';
import { sampleEvalMaskImpl } from './mask_impl';
import { col2imRowsImpl, gatherRowsImpl, im2colRowsImpl, scatterRowsImpl, tapSumImpl } from './sparse_impl';

export const SPARSE_IM2COL = 'DeformjsSparseIm2col';
export const SPARSE_COL2IM = 'DeformjsSparseCol2im';
export const SCATTER_ROWS = 'DeformjsScatterRows';
export const GATHER_ROWS = 'DeformjsGatherRows';
export const INTERPOLATE_ROWS = 'DeformjsInterpolateRows';
export const TAP_SUM = 'DeformjsTapSum';
export const SAMPLE_EVAL_MASK = 'DeformjsSampleEvalMask';

type TapSumAttrs = {
  offset: number;
  geometry: Pick<ConvGeometry, 'kernel' | 'stride' | 'padding' | 'outHeight' | 'outWidth'>;
};

type GeometryAttrs = { geometry: ConvGeometry };

/**
 * The row kernels split across the wasm threads (core's runSplit; one thread elsewhere): their units write
 * disjoint rows, so the result is the single-thread one bit for bit.
 */
const IM2COL: SplitKernel = { name: 'sparseIm2colRows', run: im2colRowsImpl };
const COL2IM: SplitKernel = { name: 'sparseCol2imRows', run: col2imRowsImpl };
const SCATTER: SplitKernel = { name: 'sparseScatterRows', run: scatterRowsImpl };
const GATHER: SplitKernel = { name: 'sparseGatherRows', run: gatherRowsImpl };
/** Values copied or summed below which a worker's wake-up (about 0.5 ms under load) costs more than it saves. */
const MIN_SPLIT_VALUES = 2 ** 20;
type WidthAttrs = { rows: number };

let registered = false;

/** Registers the package's kernels on cpu and wasm, lazily from the ops; idempotent. */
export function registerSparseKernels(): void {
  if (registered) return;
  registered = true;
  registerFusedKernel<GeometryAttrs>({
    kernelName: SPARSE_IM2COL,
    owner: `${name}@${version}`,
    outputs: ([, [A]], { geometry: g }) => [{ shape: [A, g.kernel[0] * g.kernel[1] * g.inChannels] }],
    compute: ([x, indices], [columns], _shapes, { geometry }) =>
      runSplit(IM2COL, [x, indices, columns, geometry], indices.length, columns.length >= MIN_SPLIT_VALUES),
  });
  registerFusedKernel<GeometryAttrs>({
    kernelName: SPARSE_COL2IM,
    owner: `${name}@${version}`,
    outputs: (_shapes, { geometry: g }) => [{ shape: [g.batch, g.inHeight, g.inWidth, g.inChannels] }],
    compute: ([columns, indices], [dx], _shapes, { geometry: g }) =>
      runSplit(COL2IM, [columns, indices, dx, g], g.batch * g.inHeight, columns.length >= MIN_SPLIT_VALUES),
  });
  registerFusedKernel<WidthAttrs>({
    kernelName: SCATTER_ROWS,
    owner: `${name}@${version}`,
    outputs: ([[, width]], { rows }) => [{ shape: [rows, width] }],
    compute: ([rows, indices], [out], [[, width]]) =>
      runSplit(SCATTER, [rows, indices, out, width], indices.length, rows.length >= MIN_SPLIT_VALUES),
  });
  registerFusedKernel<object>({
    kernelName: GATHER_ROWS,
    owner: `${name}@${version}`,
    outputs: ([[, width], [A]]) => [{ shape: [A, width] }],
    compute: ([source, indices], [out], [[, width]]) =>
      runSplit(GATHER, [source, indices, out, width], indices.length, out.length >= MIN_SPLIT_VALUES),
  });
  tf.registerGradient({
    kernelName: SPARSE_IM2COL,
    inputsToSave: ['indices'],
    gradFunc: (dy, [indices], attrs) => ({
      x: () => col2imRows(dy as tf.Tensor, indices, (attrs as unknown as GeometryAttrs).geometry),
      indices: () => tf.zeros(indices.shape),
    }),
  });
  tf.registerGradient({
    kernelName: SCATTER_ROWS,
    inputsToSave: ['indices'],
    gradFunc: (dy, [indices]) => ({
      rows: () => gatherRows(dy as tf.Tensor, indices),
      indices: () => tf.zeros(indices.shape),
    }),
  });
  registerFusedKernel<TapSumAttrs>({
    kernelName: TAP_SUM,
    owner: `${name}@${version}`,
    outputs: ([[N]], { geometry: g }) => [{ shape: [N, g.outHeight, g.outWidth, 1] }],
    compute: ([products], [out], [[N, H, W, P]], { offset, geometry }) =>
      tapSumImpl(products as Float32Array, out as Float32Array, N, H, W, P, offset, geometry),
  });
  registerFusedKernel<{ interval: number; temperature: number }>({
    kernelName: SAMPLE_EVAL_MASK,
    owner: `${name}@${version}`,
    outputs: ([shape]) => [{ shape }, { shape }],
    compute: ([logits, noise], [soft, mask], [[, H, W]], { interval, temperature }) =>
      sampleEvalMaskImpl(
        logits as Float32Array,
        noise as Float32Array,
        soft as Float32Array,
        mask as Float32Array,
        H,
        W,
        interval,
        temperature,
      ),
  });
  registerFusedKernel<object>({
    kernelName: INTERPOLATE_ROWS,
    owner: `${name}@${version}`,
    outputs: ([[, C], maskShape]) => [{ shape: [...maskShape.slice(0, 3), C] }],
    compute: ([rows, mask, kernel], [out], [[, C], [N, H, W], [k]]) =>
      interpolateRowsImpl(
        rows as Float32Array,
        mask as Float32Array,
        kernel as Float32Array,
        out as Float32Array,
        N,
        H,
        W,
        C,
        k,
      ),
  });
}

/** [A, kh*kw*C] im2col rows of the active output positions of x [N, H, W, C]; its gradient is `col2imRows`. */
export function im2colRows(x: tf.Tensor, indices: tf.Tensor, geometry: ConvGeometry): tf.Tensor2D {
  registerSparseKernels();
  return runFused(SPARSE_IM2COL, { x, indices }, { geometry })[0] as tf.Tensor2D;
}

/** The input gradient [N, H, W, C] of `im2colRows` from the column gradients [A, kh*kw*C]. */
export function col2imRows(columns: tf.Tensor, indices: tf.Tensor, geometry: ConvGeometry): tf.Tensor4D {
  registerSparseKernels();
  return runFused(SPARSE_COL2IM, { columns, indices }, { geometry })[0] as tf.Tensor4D;
}

/** rows [A, D] placed at `indices` of a zero [numRows, D] matrix; its gradient is `gatherRows`. */
export function scatterRows(rows: tf.Tensor, indices: tf.Tensor, numRows: number): tf.Tensor2D {
  registerSparseKernels();
  return runFused(SCATTER_ROWS, { rows, indices }, { rows: numRows })[0] as tf.Tensor2D;
}

/** source [M, D] rows at `indices`: [A, D]. */
export function gatherRows(source: tf.Tensor, indices: tf.Tensor): tf.Tensor2D {
  registerSparseKernels();
  return runFused(GATHER_ROWS, { source, indices }, {})[0] as tf.Tensor2D;
}

/**
 * The Gaussian interpolation at inference from the sampled rows (`interpolateRowsImpl`): rows [N*H*W, C] (a
 * whole map) or [A, C] (the mask's A nonzero positions in increasing order), mask [N, H, W, 1], kernel [k, k].
 * Returns [N, H, W, C]. Not differentiable.
 */
export function interpolateRows(rows: tf.Tensor, mask: tf.Tensor, kernel: tf.Tensor): tf.Tensor4D {
  registerSparseKernels();
  return runFused(INTERPOLATE_ROWS, { rows, mask, kernel }, {})[0] as tf.Tensor4D;
}

/** Sums per-tap products [N, H, W, P] (columns offset..offset + kh*kw) into a one-channel conv output [N, Ho, Wo, 1]. Not differentiable. */
export function tapSum(products: tf.Tensor, offset: number, geometry: TapSumAttrs['geometry']): tf.Tensor4D {
  registerSparseKernels();
  return runFused(TAP_SUM, { products }, { offset, geometry })[0] as tf.Tensor4D;
}

/** Mask probabilities and evaluated masks [N, H, W, 1] from mask logits and uniform noise [2 * N*H*W]. Not differentiable. */
export function sampleEvalMaskKernel(
  logits: tf.Tensor,
  noise: tf.Tensor,
  interval: number,
  temperature: number,
): [tf.Tensor4D, tf.Tensor4D] {
  registerSparseKernels();
  return runFused(SAMPLE_EVAL_MASK, { logits, noise }, { interval, temperature }) as [tf.Tensor4D, tf.Tensor4D];
}
