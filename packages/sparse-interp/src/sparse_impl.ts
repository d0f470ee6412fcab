/**
 * Typed-array loops of the sparse convolution: an im2col of the active output rows, its adjoint, and row scatter/gather.
 * Each takes the range [first, end) of its units last (core's runSplit): units write disjoint parts of the output
 * and sum in a fixed order, so any split gives the whole range's result bit for bit.
 */
import type { ConvGeometry } from '@deformjs/core';

/**
 * columns[a] = the kh*kw*C input values under output position indices[a] (flat n*Ho*Wo + ho*Wo + wo), ordered
 * (tap, channel) like the rows of an HWIO filter reshaped to [kh*kw*C, O]; taps in the padding stay zero.
 * Units: the active rows a.
 */
export function im2colRowsImpl(
  x: Float32Array,
  indices: Int32Array,
  columns: Float32Array,
  g: ConvGeometry,
  [first, end]: [number, number],
): void {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: Ho, outWidth: Wo } = g;
  const [kh, kw] = g.kernel;
  const [sh, sw] = g.stride;
  const [ph, pw] = g.padding;
  const [dh, dw] = g.dilation;
  const rowLength = kh * kw * C;
  const plane = Ho * Wo;
  for (let a = first; a < end; a++) {
    const q = indices[a];
    const n = (q / plane) | 0;
    const r = q - n * plane;
    const ho = (r / Wo) | 0;
    const wo = r - ho * Wo;
    const imageBase = n * H * W;
    let out = a * rowLength;
    for (let i = 0; i < kh; i++) {
      const h = ho * sh - ph + i * dh;
      if (h < 0 || h >= H) {
        out += kw * C;
        continue;
      }
      for (let j = 0; j < kw; j++, out += C) {
        const w = wo * sw - pw + j * dw;
        if (w < 0 || w >= W) continue;
        const src = (imageBase + h * W + w) * C;
        columns.set(x.subarray(src, src + C), out);
      }
    }
  }
}

/**
 * The adjoint of `im2colRowsImpl`: dx (zero-filled) accumulates every active row's column gradients. Units: the
 * input rows n*H + h of dx. A row takes its terms from the output rows whose taps reach it, in increasing output
 * position (decreasing tap row i), so every dx value sums its terms in increasing a, as one pass over the rows
 * would. `indices` must be strictly increasing.
 */
export function col2imRowsImpl(
  dcolumns: Float32Array,
  indices: Int32Array,
  dx: Float32Array,
  g: ConvGeometry,
  [first, end]: [number, number],
): void {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: Ho, outWidth: Wo } = g;
  const [kh, kw] = g.kernel;
  const [sh, sw] = g.stride;
  const [ph, pw] = g.padding;
  const [dh, dw] = g.dilation;
  const rowLength = kh * kw * C;
  // The first active row at or after flat output position q (indices increase).
  const lowerBound = (q: number) => {
    let low = 0;
    let high = indices.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (indices[mid] < q) low = mid + 1;
      else high = mid;
    }
    return low;
  };
  for (let unit = first; unit < end; unit++) {
    const n = (unit / H) | 0;
    const h = unit - n * H;
    for (let i = kh - 1; i >= 0; i--) {
      const offset = h + ph - i * dh;
      if (offset < 0 || offset % sh !== 0) continue;
      const ho = offset / sh;
      if (ho >= Ho) continue;
      const rowStart = (n * Ho + ho) * Wo;
      const last = lowerBound(rowStart + Wo);
      for (let a = lowerBound(rowStart); a < last; a++) {
        const wo = indices[a] - rowStart;
        for (let j = 0; j < kw; j++) {
          const w = wo * sw - pw + j * dw;
          if (w < 0 || w >= W) continue;
          const src = a * rowLength + (i * kw + j) * C;
          const dst = ((n * H + h) * W + w) * C;
          for (let c = 0; c < C; c++) dx[dst + c] += dcolumns[src + c];
        }
      }
    }
  }
}

/** out[indices[a]] = rows[a] for rows of `width` values; out arrives zero-filled (indices are distinct). Units: a. */
export function scatterRowsImpl(
  rows: Float32Array,
  indices: Int32Array,
  out: Float32Array,
  width: number,
  [first, end]: [number, number],
): void {
  for (let a = first; a < end; a++) out.set(rows.subarray(a * width, (a + 1) * width), indices[a] * width);
}

/** out[a] = source[indices[a]] for rows of `width` values. Units: a. */
export function gatherRowsImpl(
  source: Float32Array,
  indices: Int32Array,
  out: Float32Array,
  width: number,
  [first, end]: [number, number],
): void {
  for (let a = first; a < end; a++) out.set(source.subarray(indices[a] * width, (indices[a] + 1) * width), a * width);
}

/**
 * The tap sum that finishes a conv computed as per-tap products: products [N, H, W, P] holds, in columns
 * offset + t (t = i*kw + j), the input pixel times tap t's weights; out [N, Ho, Wo, 1] sums, for each output
 * position, the products of the pixels under its taps (zero padding).
 */
export function tapSumImpl(
  products: Float32Array,
  out: Float32Array,
  N: number,
  H: number,
  W: number,
  P: number,
  offset: number,
  g: Pick<ConvGeometry, 'kernel' | 'stride' | 'padding' | 'outHeight' | 'outWidth'>,
): void {
  const [kh, kw] = g.kernel;
  const [sh, sw] = g.stride;
  const [ph, pw] = g.padding;
  const { outHeight: Ho, outWidth: Wo } = g;
  for (let n = 0; n < N; n++) {
    for (let ho = 0; ho < Ho; ho++) {
      for (let wo = 0; wo < Wo; wo++) {
        let sum = 0;
        for (let i = 0; i < kh; i++) {
          const h = ho * sh - ph + i;
          if (h < 0 || h >= H) continue;
          for (let j = 0; j < kw; j++) {
            const w = wo * sw - pw + j;
            if (w < 0 || w >= W) continue;
            sum += products[((n * H + h) * W + w) * P + offset + i * kw + j];
          }
        }
        out[(n * Ho + ho) * Wo + wo] = sum;
      }
    }
  }
}
