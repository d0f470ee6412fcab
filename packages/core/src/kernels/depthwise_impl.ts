/**
 * Depthwise conv2d gradients (NHWC) as direct loops: each is as much arithmetic as the forward pass and has no
 * large dense product to hand to a matmul. Free of tfjs; `g.outChannels` is inChannels * channel multiplier.
 */
import type { ConvGeometry } from './conv_impl';

/**
 * dW[i, j, c, m] = sum over n, oh, ow of x[n, h, w, c] * dy[n, oh, ow, c * M + m], with h = oh * strideHeight -
 * padTop + i * dilationHeight (likewise w). Sums in float64 and writes all of `dw` ([fh, fw, C, M]).
 */
export function depthwiseBackpropFilter(x: Float32Array, dy: Float32Array, g: ConvGeometry, dw: Float32Array): void {
  const { batch, inHeight, inWidth, inChannels: C, outHeight, outWidth, outChannels, filterHeight, filterWidth } = g;
  const { strideHeight, strideWidth, dilationHeight, dilationWidth, padTop, padLeft } = g;
  const M = outChannels / C;
  const sums = new Float64Array(dw.length);
  for (let n = 0; n < batch; n++) {
    for (let oh = 0; oh < outHeight; oh++) {
      for (let i = 0; i < filterHeight; i++) {
        const h = oh * strideHeight - padTop + i * dilationHeight;
        if (h < 0 || h >= inHeight) continue;
        for (let ow = 0; ow < outWidth; ow++) {
          const yBase = ((n * outHeight + oh) * outWidth + ow) * outChannels;
          for (let j = 0; j < filterWidth; j++) {
            const w = ow * strideWidth - padLeft + j * dilationWidth;
            if (w < 0 || w >= inWidth) continue;
            const xBase = ((n * inHeight + h) * inWidth + w) * C;
            const wBase = (i * filterWidth + j) * outChannels;
            if (M === 1) {
              for (let c = 0; c < C; c++) sums[wBase + c] += x[xBase + c] * dy[yBase + c];
            } else {
              for (let c = 0; c < C; c++) {
                const xv = x[xBase + c];
                const o = c * M;
                for (let m = 0; m < M; m++) sums[wBase + o + m] += xv * dy[yBase + o + m];
              }
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
  dx.fill(0);
  for (let n = 0; n < batch; n++) {
    for (let oh = 0; oh < outHeight; oh++) {
      for (let i = 0; i < filterHeight; i++) {
        const h = oh * strideHeight - padTop + i * dilationHeight;
        if (h < 0 || h >= inHeight) continue;
        for (let ow = 0; ow < outWidth; ow++) {
          const yBase = ((n * outHeight + oh) * outWidth + ow) * outChannels;
          for (let j = 0; j < filterWidth; j++) {
            const w = ow * strideWidth - padLeft + j * dilationWidth;
            if (w < 0 || w >= inWidth) continue;
            const xBase = ((n * inHeight + h) * inWidth + w) * C;
            const wBase = (i * filterWidth + j) * outChannels;
            if (M === 1) {
              for (let c = 0; c < C; c++) dx[xBase + c] += dy[yBase + c] * filter[wBase + c];
            } else {
              for (let c = 0; c < C; c++) {
                const o = c * M;
                let sum = 0;
                for (let m = 0; m < M; m++) sum += dy[yBase + o + m] * filter[wBase + o + m];
                dx[xBase + c] += sum;
              }
            }
          }
        }
      }
    }
  }
}
