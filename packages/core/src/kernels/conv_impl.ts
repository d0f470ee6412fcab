/**
 * The array code behind the conv2d gradients: im2col / col2im and the small layout moves around them. Plain
 * typed-array loops, free of tfjs, shared by the cpu and wasm kernels (on wasm the arrays are heap views).
 */
import type { ConvGeometry } from '../conv_geometry';

/** A convolution's geometry as the gradient kernels take it: also NCHW. */
export interface ConvKernelGeometry extends ConvGeometry {
  /** NHWC when true, NCHW otherwise; applies to x / dx and dy alike. */
  channelsLast: boolean;
}

/** The geometry's pairs as the scalars the loops read. */
export function loopScalars(g: ConvGeometry) {
  const [filterHeight, filterWidth] = g.kernel;
  const [strideHeight, strideWidth] = g.stride;
  const [dilationHeight, dilationWidth] = g.dilation;
  const [padTop, padLeft] = g.padding;
  return { filterHeight, filterWidth, strideHeight, strideWidth, dilationHeight, dilationWidth, padTop, padLeft };
}

/** Element strides [batch, row, column, channel] of an image tensor with `channels` channels. */
export function imageStrides(
  height: number,
  width: number,
  channels: number,
  channelsLast: boolean,
): [number, number, number, number] {
  return channelsLast
    ? [height * width * channels, width * channels, channels, 1]
    : [channels * height * width, width, 1, height * width];
}

/**
 * Writes the transposed im2col matrix of images [n0, n1): `colsT[k][p]` with k = (i * filterWidth + j) *
 * inChannels + c (the row order of a [filterHeight, filterWidth, inChannels, outChannels] filter flattened to
 * [K, outChannels]) and p = ((n - n0) * outHeight + oh) * outWidth + ow. Zero padding becomes zeros; every element
 * of `colsT` is written. `planes` holds those images channel-major ([n1 - n0, C, H, W], see `toPlanes`), so each
 * row of `colsT` is a shifted copy of one channel plane: contiguous runs, no scatter.
 */
export function im2colTransposed(
  planes: Float32Array,
  g: ConvKernelGeometry,
  n0: number,
  n1: number,
  colsT: Float32Array,
): void {
  const { inHeight, inWidth, inChannels, outHeight, outWidth } = g;
  const { filterHeight, filterWidth, strideHeight, strideWidth, dilationHeight, dilationWidth, padTop, padLeft } =
    loopScalars(g);
  const plane = inHeight * inWidth;
  const columns = (n1 - n0) * outHeight * outWidth;
  for (let i = 0; i < filterHeight; i++) {
    for (let j = 0; j < filterWidth; j++) {
      // The output columns whose input column lies inside the image: [owLo, owHi).
      const wOffset = j * dilationWidth - padLeft;
      const owLo = Math.min(outWidth, Math.max(0, Math.ceil(-wOffset / strideWidth)));
      const owHi = Math.max(owLo, Math.min(outWidth, Math.ceil((inWidth - wOffset) / strideWidth)));
      for (let c = 0; c < inChannels; c++) {
        const row = ((i * filterWidth + j) * inChannels + c) * columns;
        for (let n = n0; n < n1; n++) {
          const planeBase = ((n - n0) * inChannels + c) * plane;
          for (let oh = 0; oh < outHeight; oh++) {
            const h = oh * strideHeight - padTop + i * dilationHeight;
            const start = row + ((n - n0) * outHeight + oh) * outWidth;
            if (h < 0 || h >= inHeight) {
              for (let dst = start; dst < start + outWidth; dst++) colsT[dst] = 0;
              continue;
            }
            // Plain loops: a typed-array fill call per short run costs more than the run itself.
            for (let dst = start; dst < start + owLo; dst++) colsT[dst] = 0;
            for (let dst = start + owHi; dst < start + outWidth; dst++) colsT[dst] = 0;
            let src = planeBase + h * inWidth + owLo * strideWidth + wOffset;
            const end = start + owHi;
            if (strideWidth === 1) {
              for (let dst = start + owLo; dst < end; dst++, src++) colsT[dst] = planes[src];
            } else {
              for (let dst = start + owLo; dst < end; dst++, src += strideWidth) colsT[dst] = planes[src];
            }
          }
        }
      }
    }
  }
}

/**
 * Images [n0, n1) of `x` channel-major ([n1 - n0, C, H, W]), as `im2colTransposed` reads them: a transpose per
 * image for NHWC, a view (no copy) for NCHW.
 */
export function toPlanes(x: Float32Array, g: ConvKernelGeometry, n0: number, n1: number): Float32Array {
  const image = g.inHeight * g.inWidth * g.inChannels;
  if (!g.channelsLast) return x.subarray(n0 * image, n1 * image);
  const planes = new Float32Array((n1 - n0) * image);
  for (let n = n0; n < n1; n++) {
    transpose2d(
      x.subarray(n * image, (n + 1) * image),
      g.inHeight * g.inWidth,
      g.inChannels,
      planes.subarray((n - n0) * image, (n - n0 + 1) * image),
    );
  }
  return planes;
}

/**
 * Adds the im2col matrix `cols` ([P, K], rows and columns ordered as in `im2colTransposed`) of images [n0, n1)
 * back onto the image `dx`: the adjoint of im2col. `dx` must hold zeros (or what is to be accumulated onto).
 */
export function col2imAdd(cols: Float32Array, g: ConvKernelGeometry, n0: number, n1: number, dx: Float32Array): void {
  const { inHeight, inWidth, inChannels, outHeight, outWidth } = g;
  const { filterHeight, filterWidth, strideHeight, strideWidth, dilationHeight, dilationWidth, padTop, padLeft } =
    loopScalars(g);
  const [sN, sH, sW, sC] = imageStrides(inHeight, inWidth, inChannels, g.channelsLast);
  const K = filterHeight * filterWidth * inChannels;
  for (let n = n0; n < n1; n++) {
    for (let oh = 0; oh < outHeight; oh++) {
      const hBase = oh * strideHeight - padTop;
      for (let ow = 0; ow < outWidth; ow++) {
        const wBase = ow * strideWidth - padLeft;
        const pBase = (((n - n0) * outHeight + oh) * outWidth + ow) * K;
        for (let i = 0; i < filterHeight; i++) {
          const h = hBase + i * dilationHeight;
          if (h < 0 || h >= inHeight) continue;
          for (let j = 0; j < filterWidth; j++) {
            const w = wBase + j * dilationWidth;
            if (w < 0 || w >= inWidth) continue;
            let src = pBase + (i * filterWidth + j) * inChannels;
            let dst = n * sN + h * sH + w * sW;
            if (sC === 1) {
              const end = src + inChannels;
              for (; src < end; src++, dst++) dx[dst] += cols[src];
            } else {
              for (let c = 0; c < inChannels; c++, src++, dst += sC) dx[dst] += cols[src];
            }
          }
        }
      }
    }
  }
}

/**
 * Copies the output gradient of images [n0, n1) into a [P, outChannels] matrix (rows ordered as im2col's
 * columns), converting NCHW to NHWC on the way.
 */
export function gradientRows(
  dy: Float32Array,
  g: ConvKernelGeometry,
  n0: number,
  n1: number,
  rows: Float32Array,
): void {
  const { outHeight, outWidth, outChannels } = g;
  const plane = outHeight * outWidth;
  if (g.channelsLast) {
    rows.set(dy.subarray(n0 * plane * outChannels, n1 * plane * outChannels));
    return;
  }
  for (let n = n0; n < n1; n++) {
    const rowBase = (n - n0) * plane * outChannels;
    for (let co = 0; co < outChannels; co++) {
      const src = (n * outChannels + co) * plane;
      for (let s = 0; s < plane; s++) rows[rowBase + s * outChannels + co] = dy[src + s];
    }
  }
}

/** `out` = transpose of the row-major [rows, cols] matrix `a`, tiled so both sides stay in cache. */
export function transpose2d(a: Float32Array, rows: number, cols: number, out: Float32Array): void {
  const TILE = 32;
  for (let r0 = 0; r0 < rows; r0 += TILE) {
    const r1 = Math.min(rows, r0 + TILE);
    for (let c0 = 0; c0 < cols; c0 += TILE) {
      const c1 = Math.min(cols, c0 + TILE);
      for (let r = r0; r < r1; r++) {
        for (let c = c0; c < c1; c++) out[c * rows + r] = a[r * cols + c];
      }
    }
  }
}

/**
 * The filter of the stride-1 input gradient written as a convolution of dy: W'[i, j, co, c] =
 * W[fh - 1 - i, fw - 1 - j, c, co] (spatially flipped, in and out channels swapped).
 */
export function flipFilterForInputGradient(
  w: Float32Array,
  filterHeight: number,
  filterWidth: number,
  inChannels: number,
  outChannels: number,
  out: Float32Array,
): void {
  const tap = inChannels * outChannels;
  for (let i = 0; i < filterHeight; i++) {
    for (let j = 0; j < filterWidth; j++) {
      const src = ((filterHeight - 1 - i) * filterWidth + (filterWidth - 1 - j)) * tap;
      const dst = (i * filterWidth + j) * tap;
      transpose2d(w.subarray(src, src + tap), inChannels, outChannels, out.subarray(dst, dst + tap));
    }
  }
}

/** W'[i, j] = W[fh - 1 - i, fw - 1 - j]: the spatial flip, each tap's `tapSize` values kept in place. */
export function flipTaps(
  w: Float32Array,
  filterHeight: number,
  filterWidth: number,
  tapSize: number,
  out: Float32Array,
): void {
  for (let i = 0; i < filterHeight; i++) {
    for (let j = 0; j < filterWidth; j++) {
      const src = ((filterHeight - 1 - i) * filterWidth + (filterWidth - 1 - j)) * tapSize;
      out.set(w.subarray(src, src + tapSize), (i * filterWidth + j) * tapSize);
    }
  }
}

/**
 * The explicit padding ([[0, 0], [top, bottom], [left, right], [0, 0]]) that makes a stride-1 input gradient a
 * stride-1 convolution of dy with the flipped filter (dx[h] = sum over i of dy[h - top + i * dilation] *
 * W[fh - 1 - i]), or null when the stride is not 1, the layout is not NHWC, or the forward padding exceeds the
 * dilated filter (that would need negative padding).
 */
export function stride1InputGradientPadding(
  g: ConvKernelGeometry,
): [[number, number], [number, number], [number, number], [number, number]] | null {
  if (g.stride[0] !== 1 || g.stride[1] !== 1 || !g.channelsLast) return null;
  const top = (g.kernel[0] - 1) * g.dilation[0] - g.padding[0];
  const bottom = g.inHeight - g.outHeight + g.padding[0];
  const left = (g.kernel[1] - 1) * g.dilation[1] - g.padding[1];
  const right = g.inWidth - g.outWidth + g.padding[1];
  if (top < 0 || bottom < 0 || left < 0 || right < 0) return null;
  return [
    [0, 0],
    [top, bottom],
    [left, right],
    [0, 0],
  ];
}

/** a += b, elementwise. */
export function addInto(a: Float32Array, b: Float32Array): void {
  for (let i = 0; i < a.length; i++) a[i] += b[i];
}
