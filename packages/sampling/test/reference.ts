/** A plain-loop reference of the bilinear gather in float64, written for clarity, not speed. */

export interface Case {
  B: number;
  G: number;
  C: number;
  Q: number;
  P: number;
  /** Rows (H, W). */
  levels: number[][];
}

export function totalSize(levels: number[][]): number {
  return levels.reduce((s, [h, w]) => s + h * w, 0);
}

export function startsOf(levels: number[][]): number[] {
  const starts: number[] = [];
  let s = 0;
  for (const [h, w] of levels) {
    starts.push(s);
    s += h * w;
  }
  return starts;
}

export function referenceGather(
  value: ArrayLike<number>,
  locations: ArrayLike<number>,
  weights: ArrayLike<number> | null,
  k: Case,
  normalized: boolean,
  reduce: 'sum' | 'none',
): Float64Array {
  const { B, G, C, Q, P, levels } = k;
  const L = levels.length;
  const S = totalSize(levels);
  const starts = startsOf(levels);
  const out = new Float64Array(reduce === 'sum' ? B * Q * G * C : B * Q * L * P * G * C);
  for (let b = 0; b < B; b++)
    for (let q = 0; q < Q; q++)
      for (let g = 0; g < G; g++)
        for (let l = 0; l < L; l++)
          for (let p = 0; p < P; p++) {
            const [H, W] = levels[l];
            const s = (((b * Q + q) * G + g) * L + l) * P + p;
            const a = weights ? weights[s] : 1;
            let x = locations[2 * s];
            let y = locations[2 * s + 1];
            if (normalized) {
              x = x * W - 0.5;
              y = y * H - 0.5;
            }
            if (!(y > -1 && y < H && x > -1 && x < W)) continue;
            const y0 = Math.floor(y);
            const x0 = Math.floor(x);
            const corners: Array<[number, number, number]> = [
              [y0, x0, (1 - (y - y0)) * (1 - (x - x0))],
              [y0, x0 + 1, (1 - (y - y0)) * (x - x0)],
              [y0 + 1, x0, (y - y0) * (1 - (x - x0))],
              [y0 + 1, x0 + 1, (y - y0) * (x - x0)],
            ];
            const o = reduce === 'sum' ? ((b * Q + q) * G + g) * C : (((b * Q + q) * L * P + l * P + p) * G + g) * C;
            for (const [yy, xx, w] of corners) {
              if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
              const v = ((b * S + starts[l] + yy * W + xx) * G + g) * C;
              for (let c = 0; c < C; c++) out[o + c] += a * w * value[v + c];
            }
          }
  return out;
}
