import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { ArrayBackend } from '../backend_arrays';
import { runSplit, type SplitKernel } from '../thread_split';
import { backpropGeometry, type FilterGradientAttrs, type InputGradientAttrs } from './conv_info';
import {
  addInto,
  col2imTransposedAdd,
  flipFilterForInputGradient,
  gradientRows,
  im2colTransposed,
  imageStrides,
  loopScalars,
  stride1InputGradientPadding,
  toPlanes,
  transposeRows,
  type ConvKernelGeometry,
} from './conv_impl';

/**
 * The array loops around the XNNPACK products, split across the wasm threads by core's runSplit (the products
 * themselves get tfjs's pool). Each splits over units that write disjoint values, each value's sum in a fixed order,
 * so the gradients are the single-thread ones bit for bit: im2col over its rows, the NHWC-to-planes transpose over
 * pixels, the input gradient's col2im over input channels, the flipped filter over taps, transposes over rows.
 */
const IM2COL: SplitKernel = { name: 'conv2dIm2colTransposed', run: im2colTransposed, uses: [loopScalars] };
const TO_PLANES: SplitKernel = { name: 'conv2dToPlanes', run: toPlanes, uses: [transposeRows] };
const COL2IM: SplitKernel = {
  name: 'conv2dCol2imTransposedAdd',
  run: col2imTransposedAdd,
  uses: [loopScalars, imageStrides],
};
const FLIP_FILTER: SplitKernel = {
  name: 'conv2dFlipFilter',
  run: flipFilterForInputGradient,
  uses: [transposeRows],
};
const TRANSPOSE_ROWS: SplitKernel = { name: 'transposeRows', run: transposeRows };
/** Values moved below which a worker's wake-up (about 0.5 ms) costs more than it saves. */
const MIN_SPLIT_VALUES = 2 ** 19;

/** `out` = the transpose of the [rows, cols] matrix `a`, split over rows across the wasm threads. */
export function transposeOnThreads(a: Float32Array, rows: number, cols: number, out: Float32Array): void {
  runSplit(TRANSPOSE_ROWS, [a, rows, cols, out], rows, rows * cols >= MIN_SPLIT_VALUES);
}

/**
 * Bounds the im2col buffer (in float32 elements): the batch is processed in chunks of whole images so that
 * one chunk's columns fit, which keeps memory flat for large batches. Exposed so tests can force chunking.
 */
export const im2colLimits = { maxColumnElements: 1 << 24 };

function imagesPerChunk(g: ConvKernelGeometry): number {
  const perImage = g.outHeight * g.outWidth * g.kernel[0] * g.kernel[1] * g.inChannels;
  return Math.max(1, Math.floor(im2colLimits.maxColumnElements / Math.max(1, perImage)));
}

/**
 * A fresh [P, outChannels] copy of dy's rows for images [n0, n1) (NHWC order). Always a copy, never dy itself:
 * the wasm backend caches its XNNPACK matmul operator by the id of the second operand, whatever its shape, so a
 * dy buffer that was once a matmul operand under another shape would silently reuse the wrong operator.
 */
function gradientMatrix(
  arrays: ArrayBackend,
  dy: TensorInfo,
  g: ConvKernelGeometry,
  n0: number,
  n1: number,
): TensorInfo {
  const rows = arrays.alloc([(n1 - n0) * g.outHeight * g.outWidth, g.outChannels]);
  gradientRows(arrays.view(dy), g, n0, n1, arrays.view(rows));
  return rows;
}

/** dy^T: a fresh [outChannels, P] matrix of images [n0, n1), the right operand of the input gradient's product. */
function gradientColumns(
  arrays: ArrayBackend,
  dy: TensorInfo,
  g: ConvKernelGeometry,
  n0: number,
  n1: number,
): TensorInfo {
  const plane = g.outHeight * g.outWidth;
  const columns = (n1 - n0) * plane;
  const dyT = arrays.alloc([g.outChannels, columns]);
  const [values, out] = [arrays.view(dy), arrays.view(dyT)];
  if (g.channelsLast) {
    transposeOnThreads(
      values.subarray(n0 * plane * g.outChannels, n1 * plane * g.outChannels),
      columns,
      g.outChannels,
      out,
    );
    return dyT;
  }
  for (let n = n0; n < n1; n++) {
    for (let co = 0; co < g.outChannels; co++) {
      const src = (n * g.outChannels + co) * plane;
      out.set(values.subarray(src, src + plane), co * columns + (n - n0) * plane);
    }
  }
  return dyT;
}

/**
 * Conv2DBackpropFilter: dW [fh, fw, Cin, Cout] = im2col(x)^T @ dy, accumulated over batch chunks. The transposed
 * im2col is written directly so both matmul operands are untransposed (XNNPACK's fast path on wasm).
 */
export function conv2dBackpropFilter(
  arrays: ArrayBackend,
  x: TensorInfo,
  dy: TensorInfo,
  attrs: FilterGradientAttrs,
): TensorInfo {
  const { filterShape } = attrs;
  const g = backpropGeometry('Conv2DBackpropFilter', ['x', x.shape], ['filterShape', filterShape], dy, attrs, false);
  const K = g.kernel[0] * g.kernel[1] * g.inChannels;
  const plane = g.outHeight * g.outWidth;
  const chunk = imagesPerChunk(g);
  let dw: TensorInfo | null = null;
  for (let n0 = 0; n0 < g.batch && plane > 0; n0 += chunk) {
    const n1 = Math.min(g.batch, n0 + chunk);
    const columns = (n1 - n0) * plane;
    const colsT = arrays.alloc([K, columns]);
    const rows = gradientMatrix(arrays, dy, g, n0, n1);
    // NCHW images are channel planes already; NHWC ones are transposed into a buffer of the same (shared) heap.
    const image = g.inHeight * g.inWidth * g.inChannels;
    const planesBuffer = g.channelsLast ? arrays.alloc([(n1 - n0) * image]) : null;
    const xValues = arrays.view(x);
    const planes = planesBuffer ? arrays.view(planesBuffer) : xValues.subarray(n0 * image, n1 * image);
    if (planesBuffer) {
      const pixels = (n1 - n0) * g.inHeight * g.inWidth;
      runSplit(TO_PLANES, [xValues, g, n0, n1, planes], pixels, planes.length >= MIN_SPLIT_VALUES);
    }
    runSplit(IM2COL, [planes, g, n0, n1, arrays.view(colsT)], K, K * columns >= MIN_SPLIT_VALUES);
    if (planesBuffer) arrays.dispose(planesBuffer);
    const partial = arrays.matMul(colsT, [K, columns], rows, [columns, g.outChannels]);
    arrays.dispose(colsT);
    arrays.dispose(rows);
    if (dw === null) {
      dw = partial;
    } else {
      addInto(arrays.view(dw), arrays.view(partial));
      arrays.dispose(partial);
    }
  }
  if (dw === null) {
    dw = arrays.alloc(filterShape);
    arrays.view(dw).fill(0);
  }
  return { dataId: dw.dataId, shape: filterShape, dtype: 'float32' };
}

/**
 * Which way the wasm Conv2DBackpropInput goes: 'auto' (the default) picks by shape (see `conv2dBackpropInput`);
 * 'conv' (stride 1 only; other strides take the product) and 'product' force a route, for tests and benchmarks.
 */
export const inputGradientRoute: { route: 'auto' | 'conv' | 'product' } = { route: 'auto' };

/**
 * Conv2DBackpropInput, by one of two routes:
 * - stride 1 (NHWC): a convolution of dy with the flipped filter, one XNNPACK conv and no column buffer. Its cost
 *   beyond the conv is the filter's: flipping it and XNNPACK packing the new filter, every call.
 * - any stride: dx = col2im(W @ dy^T), chunked over the batch. The filter as stored ([K, Cout]) is the left
 *   operand, so nothing the size of the filter is copied: the cost beyond the product is dy^T ([Cout, P]) and the
 *   col2im of [K, P] columns.
 * 'auto' takes the conv where the filter, handled twice (flipped, then packed), is the smaller cost. Measured per
 * ResNet-18 shape at 320 px on one wasm thread (`bench/conv_shapes.ts` for the GFLOP/s; load 10), the conv route
 * against the product route took 23 / 39 ms at 80x80x64, 21 / 24 at 40x40x128, 29 / 23 at 20x20x256 and 64 / 21 at
 * 10x10x512 (all 3x3, as many filters as channels); the rule picks the faster one on each.
 */
export function conv2dBackpropInput(
  arrays: ArrayBackend,
  dy: TensorInfo,
  filter: TensorInfo,
  attrs: InputGradientAttrs,
): TensorInfo {
  const { inputShape } = attrs;
  const g = backpropGeometry(
    'Conv2DBackpropInput',
    ['inputShape', inputShape],
    ['filter', filter.shape],
    dy,
    attrs,
    false,
  );
  const [kh, kw] = g.kernel;
  const K = kh * kw * g.inChannels;
  const plane = g.outHeight * g.outWidth;
  const filterValues = K * g.outChannels;
  const byConv = stride1InputGradientPadding(g);
  const { route } = inputGradientRoute;
  const conv =
    arrays.conv2d &&
    byConv &&
    (route === 'conv' || (route === 'auto' && 2 * filterValues <= plane * (g.outChannels + K)));
  if (conv) {
    const flipped = arrays.alloc([kh, kw, g.outChannels, g.inChannels]);
    const dims = { filterHeight: kh, filterWidth: kw, inChannels: g.inChannels, outChannels: g.outChannels };
    runSplit(FLIP_FILTER, [arrays.view(filter), dims, arrays.view(flipped)], kh * kw, filterValues >= MIN_SPLIT_VALUES);
    const dx = arrays.conv2d!(dy, flipped, g.dilation, byConv!);
    arrays.dispose(flipped);
    return { dataId: dx.dataId, shape: [...inputShape], dtype: 'float32' };
  }
  const chunk = imagesPerChunk(g);
  const dx = arrays.alloc([...inputShape]);
  arrays.view(dx).fill(0);
  for (let n0 = 0; n0 < g.batch && plane > 0; n0 += chunk) {
    const n1 = Math.min(g.batch, n0 + chunk);
    const columns = (n1 - n0) * plane;
    const dyT = gradientColumns(arrays, dy, g, n0, n1);
    const colsT = arrays.matMul(filter, [K, g.outChannels], dyT, [g.outChannels, columns]);
    arrays.dispose(dyT);
    const split = columns * K >= MIN_SPLIT_VALUES;
    runSplit(COL2IM, [arrays.view(colsT), g, n0, n1, arrays.view(dx)], g.inChannels, split);
    arrays.dispose(colsT);
  }
  return dx;
}
