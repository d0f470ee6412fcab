import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { ArrayBackend } from '../backend_arrays';
import { backpropGeometry, type FilterGradientAttrs, type InputGradientAttrs } from './conv_info';
import {
  addInto,
  col2imAdd,
  flipFilterForInputGradient,
  gradientRows,
  im2colTransposed,
  stride1InputGradientPadding,
  toPlanes,
  transpose2d,
  type ConvKernelGeometry,
} from './conv_impl';

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
    im2colTransposed(toPlanes(arrays.view(x), g, n0, n1), g, n0, n1, arrays.view(colsT));
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
 * Conv2DBackpropInput. With stride 1 (NHWC) where the backend has a fast conv, dx is a convolution of dy with the
 * flipped filter: one XNNPACK conv, as fast as the forward pass, and no column buffer. Otherwise dx =
 * col2im(dy @ W^T), chunked over the batch; W^T ([Cout, K]) is made once so the matmul runs untransposed and
 * XNNPACK packs it once for all chunks.
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
  const byConv = stride1InputGradientPadding(g);
  if (arrays.conv2d && byConv) {
    const flipped = arrays.alloc([kh, kw, g.outChannels, g.inChannels]);
    flipFilterForInputGradient(arrays.view(filter), kh, kw, g.inChannels, g.outChannels, arrays.view(flipped));
    const dx = arrays.conv2d(dy, flipped, g.dilation, byConv);
    arrays.dispose(flipped);
    return { dataId: dx.dataId, shape: [...inputShape], dtype: 'float32' };
  }
  const K = kh * kw * g.inChannels;
  const plane = g.outHeight * g.outWidth;
  const chunk = imagesPerChunk(g);
  const dx = arrays.alloc([...inputShape]);
  const filterT = arrays.alloc([g.outChannels, K]);
  transpose2d(arrays.view(filter), K, g.outChannels, arrays.view(filterT));
  arrays.view(dx).fill(0);
  for (let n0 = 0; n0 < g.batch && plane > 0; n0 += chunk) {
    const n1 = Math.min(g.batch, n0 + chunk);
    const columns = (n1 - n0) * plane;
    const rows = gradientMatrix(arrays, dy, g, n0, n1);
    const cols = arrays.matMul(rows, [columns, g.outChannels], filterT, [g.outChannels, K]);
    arrays.dispose(rows);
    col2imAdd(arrays.view(cols), g, n0, n1, arrays.view(dx));
    arrays.dispose(cols);
  }
  arrays.dispose(filterT);
  return dx;
}
