/**
 * Depthwise conv2d gradients (NHWC) as direct loops: each is as much arithmetic as the forward pass and has no
 * large dense product to hand to a matmul. Free of tfjs; `g.outChannels` is inChannels * channel multiplier.
 * Loops run tap by tap with each tap's valid output columns precomputed, so the inner loops are plain runs over
 * contiguous channels.
 */
import type { ConvGeometry } from './conv_impl';

/** The output columns [lo, hi) whose input column ow * stride + offset lies in [0, size). */
function validRange(offset: number, stride: number, size: number, outSize: number): [number, number] {
  const lo = Math.min(outSize, Math.max(0, Math.ceil(-offset / stride)));
  const hi = Math.max(lo, Math.min(outSize, Math.ceil((size - offset) / stride)));
  return [lo, hi];
}

/**
 * dW[i, j, c, m] = sum over n, oh, ow of x[n, h, w, c] * dy[n, oh, ow, c * M + m], with h = oh * strideHeight -
 * padTop + i * dilationHeight (likewise w). Sums in float64 and writes all of `dw` ([fh, fw, C, M]).
 */
export function depthwiseBackpropFilter(x: Float32Array, dy: Float32Array, g: ConvGeometry, dw: Float32Array): void {
  const { batch, inHeight, inWidth, inChannels: C, outHeight, outWidth, outChannels, filterHeight, filterWidth } = g;
  const { strideHeight, strideWidth, dilationHeight, dilationWidth, padTop, padLeft } = g;
  const M = outChannels / C;
  const sums = new Float64Array(dw.length);
  const xStep = strideWidth * C;
  for (let i = 0; i < filterHeight; i++) {
    for (let j = 0; j < filterWidth; j++) {
      const wOffset = j * dilationWidth - padLeft;
      const [owLo, owHi] = validRange(wOffset, strideWidth, inWidth, outWidth);
      const tap = (i * filterWidth + j) * outChannels;
      for (let n = 0; n < batch; n++) {
        for (let oh = 0; oh < outHeight; oh++) {
          const h = oh * strideHeight - padTop + i * dilationHeight;
          if (h < 0 || h >= inHeight) continue;
          let xBase = ((n * inHeight + h) * inWidth + owLo * strideWidth + wOffset) * C;
          let yBase = ((n * outHeight + oh) * outWidth + owLo) * outChannels;
          if (M === 1) {
            // A register sum along the row per channel: the rows are in cache, the strided reads are cheap.
            const xEnd = xBase + (owHi - owLo) * xStep;
            let c = 0;
            // Four channels at a time: four independent sums, and each step reads 16 contiguous bytes per row.
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
export function depthwiseBackpropInput(dy: Float32Array, filter: Float32Array, g: ConvGeometry, dx: Float32Array): void {
  const { batch, inHeight, inWidth, inChannels: C, outHeight, outWidth, outChannels, filterHeight, filterWidth } = g;
  const { strideHeight, strideWidth, dilationHeight, dilationWidth, padTop, padLeft } = g;
  const M = outChannels / C;
  const xStep = strideWidth * C;
  dx.fill(0);
  for (let i = 0; i < filterHeight; i++) {
    for (let j = 0; j < filterWidth; j++) {
      const wOffset = j * dilationWidth - padLeft;
      const [owLo, owHi] = validRange(wOffset, strideWidth, inWidth, outWidth);
      const tap = (i * filterWidth + j) * outChannels;
      for (let n = 0; n < batch; n++) {
        for (let oh = 0; oh < outHeight; oh++) {
          const h = oh * strideHeight - padTop + i * dilationHeight;
          if (h < 0 || h >= inHeight) continue;
          let xBase = ((n * inHeight + h) * inWidth + owLo * strideWidth + wOffset) * C;
          let yBase = ((n * outHeight + oh) * outWidth + owLo) * outChannels;
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
