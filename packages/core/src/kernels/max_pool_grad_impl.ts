/**
 * The gradient of a 2-d max pool as plain array code: each output's gradient goes to the first maximum of its
 * window in row-major order (tfjs's cpu rule), padding excluded. Gradient mass is conserved, ties included.
 * Layouts NHWC: x [B, H, W, C], dy and the pooled output [B, Ho, Wo, C], dx [B, H, W, C] (zero-filled).
 */
export interface PoolGeometry {
  batch: number;
  inHeight: number;
  inWidth: number;
  channels: number;
  outHeight: number;
  outWidth: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  dilationHeight: number;
  dilationWidth: number;
  padTop: number;
  padLeft: number;
}

export function maxPoolGradImpl(x: Float32Array, dy: Float32Array, dx: Float32Array, g: PoolGeometry): void {
  const { inHeight: H, inWidth: W, channels: C, outHeight: Ho, outWidth: Wo } = g;
  for (let b = 0; b < g.batch; b++) {
    const imageBase = b * H * W * C;
    for (let oh = 0; oh < Ho; oh++) {
      const top = oh * g.strideHeight - g.padTop;
      for (let ow = 0; ow < Wo; ow++) {
        const left = ow * g.strideWidth - g.padLeft;
        const dyBase = ((b * Ho + oh) * Wo + ow) * C;
        for (let c = 0; c < C; c++) {
          let best = -Infinity;
          let bestIndex = -1;
          for (let i = 0; i < g.filterHeight; i++) {
            const h = top + i * g.dilationHeight;
            if (h < 0 || h >= H) continue;
            for (let j = 0; j < g.filterWidth; j++) {
              const w = left + j * g.dilationWidth;
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
