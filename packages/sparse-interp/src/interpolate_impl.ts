/**
 * Kernel taps lighter than this are skipped. Against the denominator's 1e-5 they add at most
 * k*k * 1e-14 / 1e-5 (5e-8 for 7x7) of the largest feature, below float32 resolution; with the initial
 * sigma 3 this keeps 21 of the 49 taps.
 */
const NEGLIGIBLE_TAP = 1e-14;

/**
 * The Gaussian interpolation at inference, reading only sampled neighbours: out = m*f + (1-m) * num / (den + 1e-5)
 * with num = sum_q G(p-q) m(q) f(q), den = sum_q G(p-q) m(q) over the k x k window (zero padding). Positions
 * with m = 1 copy f; neighbours with m = 0 are skipped, so the cost follows the density.
 * features, out [N, H, W, C]; mask [N, H, W]; kernel [k, k].
 */
export function interpolateImpl(
  features: Float32Array,
  mask: Float32Array,
  kernel: Float32Array,
  out: Float32Array,
  N: number,
  H: number,
  W: number,
  C: number,
  k: number,
): void {
  const s = (k - 1) >> 1;
  const tapRow: number[] = [];
  const tapCol: number[] = [];
  const tapWeight: number[] = [];
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      if (Math.abs(kernel[i * k + j]) < NEGLIGIBLE_TAP) continue;
      tapRow.push(i - s);
      tapCol.push(j - s);
      tapWeight.push(kernel[i * k + j]);
    }
  }
  const taps = tapWeight.length;
  const acc = new Float32Array(C);
  for (let n = 0; n < N; n++) {
    for (let h = 0; h < H; h++) {
      for (let w = 0; w < W; w++) {
        const p = (n * H + h) * W + w;
        const m = mask[p];
        const base = p * C;
        if (m === 1) {
          out.set(features.subarray(base, base + C), base);
          continue;
        }
        acc.fill(0);
        let den = 0;
        for (let t = 0; t < taps; t++) {
          const hh = h + tapRow[t];
          const ww = w + tapCol[t];
          if (hh < 0 || hh >= H || ww < 0 || ww >= W) continue;
          const q = (n * H + hh) * W + ww;
          const mq = mask[q];
          if (mq === 0) continue;
          const weight = tapWeight[t] * mq;
          den += weight;
          const qBase = q * C;
          for (let c = 0; c < C; c++) acc[c] += weight * features[qBase + c];
        }
        const scale = (1 - m) / (den + 1e-5);
        for (let c = 0; c < C; c++) out[base + c] = m * features[base + c] + scale * acc[c];
      }
    }
  }
}
