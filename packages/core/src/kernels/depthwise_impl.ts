/**
 * Depthwise conv2d gradients (NHWC) as direct loops: each is as much arithmetic as the forward pass and has no
 * large dense product to hand to a matmul. Free of tfjs; `g.outChannels` is inChannels * channel multiplier.
 * Loops walk output rows outermost, so the few input rows a row of dy touches stay in cache across the taps, and
 * each tap's valid output columns are precomputed, so the inner loops are plain runs over contiguous channels.
 */
import type { ConvGeometry } from '../conv_geometry';
import { loopScalars } from './conv_impl';

/** Per filter column j, the output columns [lo[j], hi[j]) whose input column lies inside the image. */
function validColumns(g: ConvGeometry): { lo: Int32Array; hi: Int32Array } {
  const { filterWidth, dilationWidth, padLeft, strideWidth } = loopScalars(g);
  const lo = new Int32Array(filterWidth);
  const hi = new Int32Array(filterWidth);
  for (let j = 0; j < filterWidth; j++) {
    const offset = j * dilationWidth - padLeft;
    lo[j] = Math.min(g.outWidth, Math.max(0, Math.ceil(-offset / strideWidth)));
    hi[j] = Math.max(lo[j], Math.min(g.outWidth, Math.ceil((g.inWidth - offset) / strideWidth)));
  }
  return { lo, hi };
}

/**
 * dW[i, j, c, m] = sum over n, oh, ow of x[n, h, w, c] * dy[n, oh, ow, c * M + m], with h = oh * strideHeight -
 * padTop + i * dilationHeight (likewise w). Sums in float64 and writes all of `dw` ([fh, fw, C, M]).
 */
export function depthwiseBackpropFilter(x: Float32Array, dy: Float32Array, g: ConvGeometry, dw: Float32Array): void {
  const { batch, inHeight, inWidth, inChannels: C, outHeight, outWidth, outChannels } = g;
  const { filterHeight, filterWidth, strideHeight, strideWidth, dilationHeight, dilationWidth, padTop, padLeft } =
    loopScalars(g);
  const M = outChannels / C;
  const { lo, hi } = validColumns(g);
  const sums = new Float64Array(dw.length);
  const xStep = strideWidth * C;
  for (let n = 0; n < batch; n++) {
    for (let oh = 0; oh < outHeight; oh++) {
      const yRow = (n * outHeight + oh) * outWidth;
      for (let i = 0; i < filterHeight; i++) {
        const h = oh * strideHeight - padTop + i * dilationHeight;
        if (h < 0 || h >= inHeight) continue;
        const xRow = (n * inHeight + h) * inWidth;
        for (let j = 0; j < filterWidth; j++) {
          const owLo = lo[j];
          const owHi = hi[j];
          const tap = (i * filterWidth + j) * outChannels;
          let xBase = (xRow + owLo * strideWidth + j * dilationWidth - padLeft) * C;
          let yBase = (yRow + owLo) * outChannels;
          if (M === 1) {
            // Register sums along the row, four channels at a time; the row is in cache, so the strided reads
            // are cheap.
            const xEnd = xBase + (owHi - owLo) * xStep;
            let c = 0;
            for (; c + 4 <= C; c += 4) {
              let s0 = 0;
              let s1 = 0;
              let s2 = 0;
              let s3 = 0;
              for (let xi = xBase + c, yi = yBase + c; xi < xEnd; xi += xStep, yi += outChannels) {
                s0 += x[xi] * dy[yi];
                s1 += x[xi + 1] * dy[yi + 1];
                s2 += x[xi + 2] * dy[yi + 2];
                s3 += x[xi + 3] * dy[yi + 3];
              }
              sums[tap + c] += s0;
              sums[tap + c + 1] += s1;
              sums[tap + c + 2] += s2;
              sums[tap + c + 3] += s3;
            }
            for (; c < C; c++) {
              let sum = 0;
              for (let xi = xBase + c, yi = yBase + c; xi < xEnd; xi += xStep, yi += outChannels) sum += x[xi] * dy[yi];
              sums[tap + c] += sum;
            }
            continue;
          }
          for (let ow = owLo; ow < owHi; ow++, xBase += xStep, yBase += outChannels) {
            for (let c = 0; c < C; c++) {
              const xv = x[xBase + c];
              const o = c * M;
              for (let m = 0; m < M; m++) sums[tap + o + m] += xv * dy[yBase + o + m];
            }
          }
        }
      }
    }
  }
  for (let k = 0; k < dw.length; k++) dw[k] = sums[k];
}

/**
 * dx[n, h, w, c] = sum over the (oh, ow, i, j) that read (h, w) of sum_m dy[n, oh, ow, c * M + m] * W[i, j, c, m].
 * Writes all of `dx` ([N, H, W, C]).
 */
export function depthwiseBackpropInput(
  dy: Float32Array,
  filter: Float32Array,
  g: ConvGeometry,
  dx: Float32Array,
): void {
  const { batch, inHeight, inWidth, inChannels: C, outHeight, outWidth, outChannels } = g;
  const { filterHeight, filterWidth, strideHeight, strideWidth, dilationHeight, dilationWidth, padTop, padLeft } =
    loopScalars(g);
  const M = outChannels / C;
  const { lo, hi } = validColumns(g);
  const xStep = strideWidth * C;
  dx.fill(0);
  for (let n = 0; n < batch; n++) {
    for (let oh = 0; oh < outHeight; oh++) {
      const yRow = (n * outHeight + oh) * outWidth;
      for (let i = 0; i < filterHeight; i++) {
        const h = oh * strideHeight - padTop + i * dilationHeight;
        if (h < 0 || h >= inHeight) continue;
        const xRow = (n * inHeight + h) * inWidth;
        for (let j = 0; j < filterWidth; j++) {
          const owLo = lo[j];
          const owHi = hi[j];
          const tap = (i * filterWidth + j) * outChannels;
          let xBase = (xRow + owLo * strideWidth + j * dilationWidth - padLeft) * C;
          let yBase = (yRow + owLo) * outChannels;
          for (let ow = owLo; ow < owHi; ow++, xBase += xStep, yBase += outChannels) {
            if (M === 1) {
              for (let c = 0; c < C; c++) dx[xBase + c] += dy[yBase + c] * filter[tap + c];
            } else {
              for (let c = 0; c < C; c++) {
                const o = c * M;
                let sum = 0;
                for (let m = 0; m < M; m++) sum += dy[yBase + o + m] * filter[tap + o + m];
                dx[xBase + c] += sum;
              }
            }
          }
        }
      }
    }
  }
}
