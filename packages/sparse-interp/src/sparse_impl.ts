/** Typed-array loops of the sparse convolution: an im2col of the active output rows, its adjoint, and row scatter/gather. */
import type { ConvGeometry } from '@deformjs/core';

/**
 * columns[a] = the kh*kw*C input values under output position indices[a] (flat n*Ho*Wo + ho*Wo + wo), ordered
 * (tap, channel) like the rows of an HWIO filter reshaped to [kh*kw*C, O]; taps in the padding stay zero.
 */
export function im2colRowsImpl(x: Float32Array, indices: Int32Array, columns: Float32Array, g: ConvGeometry): void {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: Ho, outWidth: Wo } = g;
  const [kh, kw] = g.kernel;
  const [sh, sw] = g.stride;
  const [ph, pw] = g.padding;
  const [dh, dw] = g.dilation;
  const rowLength = kh * kw * C;
  const plane = Ho * Wo;
  for (let a = 0; a < indices.length; a++) {
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

/** The adjoint of `im2colRowsImpl`: dx (zero-filled) accumulates every active row's column gradients. */
export function col2imRowsImpl(dcolumns: Float32Array, indices: Int32Array, dx: Float32Array, g: ConvGeometry): void {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: Ho, outWidth: Wo } = g;
  const [kh, kw] = g.kernel;
  const [sh, sw] = g.stride;
  const [ph, pw] = g.padding;
  const [dh, dw] = g.dilation;
  const rowLength = kh * kw * C;
  const plane = Ho * Wo;
  for (let a = 0; a < indices.length; a++) {
    const q = indices[a];
    const n = (q / plane) | 0;
    const r = q - n * plane;
    const ho = (r / Wo) | 0;
    const wo = r - ho * Wo;
    const imageBase = n * H * W;
    let src = a * rowLength;
    for (let i = 0; i < kh; i++) {
      const h = ho * sh - ph + i * dh;
      if (h < 0 || h >= H) {
        src += kw * C;
        continue;
      }
      for (let j = 0; j < kw; j++, src += C) {
        const w = wo * sw - pw + j * dw;
        if (w < 0 || w >= W) continue;
        const dst = (imageBase + h * W + w) * C;
        for (let c = 0; c < C; c++) dx[dst + c] += dcolumns[src + c];
      }
    }
  }
}

/** out[indices[a]] = rows[a] for rows of `width` values; out arrives zero-filled (indices are distinct). */
export function scatterRowsImpl(rows: Float32Array, indices: Int32Array, out: Float32Array, width: number): void {
  for (let a = 0; a < indices.length; a++) out.set(rows.subarray(a * width, (a + 1) * width), indices[a] * width);
}

/** out[a] = source[indices[a]] for rows of `width` values. */
export function gatherRowsImpl(source: Float32Array, indices: Int32Array, out: Float32Array, width: number): void {
  for (let a = 0; a < indices.length; a++)
    out.set(source.subarray(indices[a] * width, (indices[a] + 1) * width), a * width);
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
