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
 * Writes rows [firstRow, endRow) of the transposed im2col matrix of images [n0, n1): `colsT[k][p]` with k = (i *
 * filterWidth + j) * inChannels + c (the row order of a [filterHeight, filterWidth, inChannels, outChannels] filter
 * flattened to [K, outChannels]) and p = ((n - n0) * outHeight + oh) * outWidth + ow. Zero padding becomes zeros;
 * every element of those rows is written. `planes` holds those images channel-major ([n1 - n0, C, H, W], see
 * `toPlanes`), so each row of `colsT` is a shifted copy of one channel plane: contiguous runs, no scatter. Rows are
 * independent: any split of [0, K) into ranges gives the same matrix (core's runSplit).
 */
export function im2colTransposed(
  planes: Float32Array,
  g: ConvKernelGeometry,
  n0: number,
  n1: number,
  colsT: Float32Array,
  [firstRow, endRow]: [number, number],
): void {
  const { inHeight, inWidth, inChannels, outHeight, outWidth } = g;
  const { filterWidth, strideHeight, strideWidth, dilationHeight, dilationWidth, padTop, padLeft } = loopScalars(g);
  const plane = inHeight * inWidth;
  const columns = (n1 - n0) * outHeight * outWidth;
  for (let k = firstRow; k < endRow; k++) {
    const c = k % inChannels;
    const tap = (k - c) / inChannels;
    const j = tap % filterWidth;
    const i = (tap - j) / filterWidth;
    // The output columns whose input column lies inside the image: [owLo, owHi).
    const wOffset = j * dilationWidth - padLeft;
    const owLo = Math.min(outWidth, Math.max(0, Math.ceil(-wOffset / strideWidth)));
    const owHi = Math.max(owLo, Math.min(outWidth, Math.ceil((inWidth - wOffset) / strideWidth)));
    const row = k * columns;
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

/**
 * Pixels [first, end) of images [n0, n1) of the NHWC `x` (pixel p of image n is unit (n - n0) * H * W + p) written
 * channel-major into `planes` ([n1 - n0, C, H, W]), as `im2colTransposed` reads them. Units write disjoint values.
 */
export function toPlanes(
  x: Float32Array,
  g: ConvKernelGeometry,
  n0: number,
  n1: number,
  planes: Float32Array,
  [first, end]: [number, number],
): void {
  const pixels = g.inHeight * g.inWidth;
  const image = pixels * g.inChannels;
  for (let n = n0; n < n1; n++) {
    const base = (n - n0) * pixels;
    const lo = Math.max(first - base, 0);
    const hi = Math.min(end - base, pixels);
    if (lo >= hi) continue;
    const out = planes.subarray((n - n0) * image, (n - n0 + 1) * image);
    transposeRows(x.subarray(n * image, (n + 1) * image), pixels, g.inChannels, out, [lo, hi]);
  }
}

/**
 * Adds channels [firstChannel, endChannel) of the transposed im2col matrix `colsT` ([K, P], rows and columns ordered
 * as `im2colTransposed` writes them) of images [n0, n1) back onto the image `dx`: the adjoint of
 * `im2colTransposed`. `dx` must hold zeros (or what is to be accumulated onto). Each value's sum runs over the taps in
 * the same order whatever the range, and channels are independent: any split of [0, inChannels) gives the same image
 * bit for bit (core's runSplit).
 */
export function col2imTransposedAdd(
  colsT: Float32Array,
  g: ConvKernelGeometry,
  n0: number,
  n1: number,
  dx: Float32Array,
  [firstChannel, endChannel]: [number, number],
): void {
  const { inHeight, inWidth, inChannels, outHeight, outWidth } = g;
  const { filterHeight, filterWidth, strideHeight, strideWidth, dilationHeight, dilationWidth, padTop, padLeft } =
    loopScalars(g);
  const [sN, sH, sW, sC] = imageStrides(inHeight, inWidth, inChannels, g.channelsLast);
  const columns = (n1 - n0) * outHeight * outWidth;
  const step = strideWidth * sW;
  for (let c = firstChannel; c < endChannel; c++) {
    for (let i = 0; i < filterHeight; i++) {
      for (let j = 0; j < filterWidth; j++) {
        // The output columns whose input column lies inside the image: [owLo, owHi).
        const wOffset = j * dilationWidth - padLeft;
        const owLo = Math.min(outWidth, Math.max(0, Math.ceil(-wOffset / strideWidth)));
        const owHi = Math.max(owLo, Math.min(outWidth, Math.ceil((inWidth - wOffset) / strideWidth)));
        const row = ((i * filterWidth + j) * inChannels + c) * columns;
        for (let n = n0; n < n1; n++) {
          for (let oh = 0; oh < outHeight; oh++) {
            const h = oh * strideHeight - padTop + i * dilationHeight;
            if (h < 0 || h >= inHeight) continue;
            let src = row + ((n - n0) * outHeight + oh) * outWidth + owLo;
            let dst = n * sN + h * sH + (owLo * strideWidth + wOffset) * sW + c * sC;
            for (let ow = owLo; ow < owHi; ow++, src++, dst += step) dx[dst] += colsT[src];
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

/**
 * Rows [firstRow, endRow) of the row-major [rows, cols] matrix `a` written as columns of `out` ([cols, rows]),
 * tiled so both sides stay in cache. Row ranges write disjoint values (core's runSplit).
 */
export function transposeRows(
  a: Float32Array,
  rows: number,
  cols: number,
  out: Float32Array,
  [firstRow, endRow]: [number, number],
): void {
  const TILE = 32;
  for (let r0 = firstRow; r0 < endRow; r0 += TILE) {
    const r1 = Math.min(endRow, r0 + TILE);
    for (let c0 = 0; c0 < cols; c0 += TILE) {
      const c1 = Math.min(cols, c0 + TILE);
      for (let r = r0; r < r1; r++) {
        for (let c = c0; c < c1; c++) out[c * rows + r] = a[r * cols + c];
      }
    }
  }
}

/**
 * Taps [firstTap, endTap) (tap t = i * filterWidth + j) of the filter of the stride-1 input gradient written as a
 * convolution of dy: W'[i, j, co, c] = W[fh - 1 - i, fw - 1 - j, c, co] (spatially flipped, in and out channels
 * swapped). Taps write disjoint values (core's runSplit).
 */
export function flipFilterForInputGradient(
  w: Float32Array,
  dims: { filterHeight: number; filterWidth: number; inChannels: number; outChannels: number },
  out: Float32Array,
  [firstTap, endTap]: [number, number],
): void {
  const { filterHeight, filterWidth, inChannels, outChannels } = dims;
  const tap = inChannels * outChannels;
  for (let t = firstTap; t < endTap; t++) {
    const j = t % filterWidth;
    const i = (t - j) / filterWidth;
    const src = ((filterHeight - 1 - i) * filterWidth + (filterWidth - 1 - j)) * tap;
    transposeRows(w.subarray(src, src + tap), inChannels, outChannels, out.subarray(t * tap, (t + 1) * tap), [
      0,
      inChannels,
    ]);
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
