/**
 * Kernel taps lighter than this are skipped. Against the denominator's 1e-5 they add at most
 * k*k * 1e-14 / 1e-5 (5e-8 for 7x7) of the largest feature, below float32 resolution; with the initial
 * sigma 3 this keeps 21 of the 49 taps.
 */
const NEGLIGIBLE_TAP = 1e-14;

/**
 * The Gaussian interpolation at inference, reading only sampled neighbours:
 * out = m*f + (1-m) * num / (den + 1e-5) with num = sum_q G(p-q) m(q) f(q), den = sum_q G(p-q) m(q) over the
 * k x k window (zero padding). Neighbours with m = 0 are skipped and positions with m = 1 copy f, so the cost
 * follows the density.
 *
 * `rows` holds f at the sampled positions only: either every position ([N*H*W, C], a whole map) or, compact,
 * the positions where the mask is nonzero in increasing order ([A, C], A = their count; what a sparse conv
 * computes), so the map never has to be scattered first. mask [N, H, W]; kernel [k, k]; out [N, H, W, C]
 * (zero-filled on entry).
 *
 * Each position first lists its sampled neighbours with their final weights (the normalisation folded in), then
 * sums the rows four channels at a time in local variables: one store per output value instead of one per
 * neighbour and channel, which made this loop about twice as fast as accumulating into an array.
 */
export function interpolateRowsImpl(
  rows: Float32Array,
  mask: Float32Array,
  kernel: Float32Array,
  out: Float32Array,
  N: number,
  H: number,
  W: number,
  C: number,
  k: number,
): void {
  const size = N * H * W;
  const compact = rows.length !== size * C;
  // The row of f at each position (-1 where the mask is 0).
  const rowOf = new Int32Array(size);
  let sampled = 0;
  for (let p = 0; p < size; p++) rowOf[p] = mask[p] === 0 ? -1 : compact ? sampled++ : p;
  if (compact && sampled * C !== rows.length)
    throw new Error(
      `interpolateRows: rows must hold one row per nonzero mask position (${sampled}) or per position (${size}), got ${rows.length / C}`,
    );

  const s = (k - 1) >> 1;
  const tapH: number[] = [];
  const tapW: number[] = [];
  const tapWeight: number[] = [];
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      if (Math.abs(kernel[i * k + j]) < NEGLIGIBLE_TAP) continue;
      tapH.push(i - s);
      tapW.push(j - s);
      tapWeight.push(kernel[i * k + j]);
    }
  }
  const taps = tapWeight.length;
  // A position's terms: the start of each contributing row and its weight (its own row last, weight m).
  const termStart = new Int32Array(taps + 1);
  const termWeight = new Float64Array(taps + 1);
  for (let n = 0; n < N; n++) {
    for (let h = 0; h < H; h++) {
      for (let w = 0; w < W; w++) {
        const p = (n * H + h) * W + w;
        const m = mask[p];
        const own = rowOf[p];
        const base = p * C;
        if (m === 1) {
          out.set(rows.subarray(own * C, own * C + C), base);
          continue;
        }
        let terms = 0;
        let den = 0;
        for (let t = 0; t < taps; t++) {
          const hh = h + tapH[t];
          const ww = w + tapW[t];
          if (hh < 0 || hh >= H || ww < 0 || ww >= W) continue;
          const row = rowOf[(n * H + hh) * W + ww];
          if (row < 0) continue;
          const g = tapWeight[t] * mask[(n * H + hh) * W + ww];
          den += g;
          termStart[terms] = row * C;
          termWeight[terms++] = g;
        }
        const scale = (1 - m) / (den + 1e-5);
        for (let a = 0; a < terms; a++) termWeight[a] *= scale;
        if (own >= 0) {
          termStart[terms] = own * C;
          termWeight[terms++] = m;
        }
        let c = 0;
        for (; c + 4 <= C; c += 4) {
          let v0 = 0;
          let v1 = 0;
          let v2 = 0;
          let v3 = 0;
          for (let a = 0; a < terms; a++) {
            const g = termWeight[a];
            const src = termStart[a] + c;
            v0 += g * rows[src];
            v1 += g * rows[src + 1];
            v2 += g * rows[src + 2];
            v3 += g * rows[src + 3];
          }
          out[base + c] = v0;
          out[base + c + 1] = v1;
          out[base + c + 2] = v2;
          out[base + c + 3] = v3;
        }
        for (; c < C; c++) {
          let v = 0;
          for (let a = 0; a < terms; a++) v += termWeight[a] * rows[termStart[a] + c];
          out[base + c] = v;
        }
      }
    }
  }
}
