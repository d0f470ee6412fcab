import type { ConvGeometry } from '../conv_geometry';
import { loopScalars } from './conv_impl';

/**
 * The gradient of a 2-d max pool as plain array code: each output's gradient goes to the first maximum of its
 * window in row-major order (tfjs's cpu rule), padding excluded. Gradient mass is conserved, ties included.
 * Layouts NHWC: x [B, H, W, C], dy and the pooled output [B, Ho, Wo, C], dx [B, H, W, C] (zero-filled). Does channels
 * [firstChannel, endChannel): channels write disjoint values, so any split of [0, C) gives the same dx (core's
 * runSplit).
 */
export function maxPoolGradImpl(
  x: Float32Array,
  dy: Float32Array,
  dx: Float32Array,
  g: ConvGeometry,
  [firstChannel, endChannel]: [number, number],
): void {
  const { inHeight: H, inWidth: W, inChannels: C, outHeight: Ho, outWidth: Wo } = g;
  const { filterHeight, filterWidth, strideHeight, strideWidth, dilationHeight, dilationWidth, padTop, padLeft } =
    loopScalars(g);
  for (let b = 0; b < g.batch; b++) {
    const imageBase = b * H * W * C;
    for (let oh = 0; oh < Ho; oh++) {
      const top = oh * strideHeight - padTop;
      for (let ow = 0; ow < Wo; ow++) {
        const left = ow * strideWidth - padLeft;
        const dyBase = ((b * Ho + oh) * Wo + ow) * C;
        for (let c = firstChannel; c < endChannel; c++) {
          let best = -Infinity;
          let bestIndex = -1;
          for (let i = 0; i < filterHeight; i++) {
            const h = top + i * dilationHeight;
            if (h < 0 || h >= H) continue;
            for (let j = 0; j < filterWidth; j++) {
              const w = left + j * dilationWidth;
              if (w < 0 || w >= W) continue;
              const index = imageBase + (h * W + w) * C + c;
              const value = x[index];
              if (value > best || bestIndex < 0) {
                best = value;
                bestIndex = index;
              }
            }
          }
          if (bestIndex >= 0) dx[bestIndex] += dy[dyBase + c];
        }
      }
    }
  }
}
