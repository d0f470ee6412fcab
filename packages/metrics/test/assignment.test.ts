import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { linearSumAssignment } from '../src/index';

const matching = JSON.parse(readFileSync(new URL('./fixtures/matching.json', import.meta.url), 'utf8')) as {
  shape: [number, number];
  cost: (number | null)[];
  rows: number[];
  total: number;
}[];

/** A seeded generator (mulberry32), so this tensor-free package's tests need no tensor library. */
function seeded(seed: number): { next(): number; int(n: number): number } {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n) => Math.floor(next() * n) };
}

function total(cost: ArrayLike<number>, cols: number, r: Int32Array, c: Int32Array): number {
  let sum = 0;
  for (let k = 0; k < r.length; k++) sum += cost[r[k] * cols + c[k]];
  return sum;
}

/** The optimal cost by trying every injective assignment of the smaller side. */
function bruteForce(cost: ArrayLike<number>, rows: number, cols: number): number {
  const small = Math.min(rows, cols);
  const large = Math.max(rows, cols);
  const at = (s: number, l: number) => (rows <= cols ? cost[s * cols + l] : cost[l * cols + s]);
  let best = Infinity;
  const used = new Array<boolean>(large).fill(false);
  const search = (s: number, acc: number) => {
    if (s === small) {
      best = Math.min(best, acc);
      return;
    }
    for (let l = 0; l < large; l++) {
      if (used[l]) continue;
      used[l] = true;
      search(s + 1, acc + at(s, l));
      used[l] = false;
    }
  };
  search(0, 0);
  return best;
}

describe('linearSumAssignment', () => {
  it('finds the brute-force optimum on small random matrices, with ties and forbidden entries', () => {
    const rng = seeded(11);
    for (let trial = 0; trial < 300; trial++) {
      const rows = 1 + rng.int(6);
      const cols = 1 + rng.int(6);
      const kind = trial % 3;
      const cost = Float64Array.from({ length: rows * cols }, () =>
        kind === 0 ? rng.next() : kind === 1 ? rng.int(3) : rng.next() < 0.25 ? Infinity : rng.int(5),
      );
      const best = bruteForce(cost, rows, cols);
      if (best === Infinity) {
        expect(() => linearSumAssignment(cost, rows, cols)).toThrow(/infeasible/);
        continue;
      }
      const { rowIndices, colIndices } = linearSumAssignment(cost, rows, cols);
      expect(rowIndices.length).toBe(Math.min(rows, cols));
      expect(new Set(rowIndices).size).toBe(rowIndices.length);
      expect(new Set(colIndices).size).toBe(colIndices.length);
      expect([...rowIndices]).toEqual([...rowIndices].sort((a, b) => a - b));
      expect(total(cost, cols, rowIndices, colIndices)).toBeCloseTo(best, 9);
    }
  });

  it("gives scipy's optimal cost on the reference cases", () => {
    for (const { shape, cost, rows, total: expected } of matching) {
      const values = Float64Array.from(cost, (v) => (v === null ? Infinity : v));
      const result = linearSumAssignment(values, shape[0], shape[1]);
      expect(result.rowIndices.length).toBe(rows.length);
      expect(total(values, shape[1], result.rowIndices, result.colIndices)).toBeCloseTo(expected, 9);
    }
  });

  it('maximizes, handles empty matrices and refuses NaN with a clear error', () => {
    const cost = [1, 2, 3, 4];
    const max = linearSumAssignment(cost, 2, 2, { maximize: true });
    expect(total(cost, 2, max.rowIndices, max.colIndices)).toBe(5);
    expect(linearSumAssignment([], 0, 3).rowIndices.length).toBe(0);
    expect(() => linearSumAssignment([1, NaN], 1, 2)).toThrow(/linearSumAssignment: cost\[0\]\[1\] is NaN/);
    expect(() => linearSumAssignment([1, -Infinity], 1, 2)).toThrow(/cost\[0\]\[1\] is -Infinity/);
    expect(() => linearSumAssignment([1, 2, 3], 2, 2)).toThrow(/expected 2 x 2 = 4 entries, got 3/);
    expect(() => linearSumAssignment([Infinity, Infinity], 2, 1)).toThrow(/infeasible/);
  });
});
