import { readFileSync } from 'node:fs';
import { Rng } from '@deformjs/core';
import { describe, expect, it } from 'vitest';
import { clearMot, flowEndPointError, linearSumAssignment, type MotFrame } from '../src';

const box = (x: number, w = 10): number[] => [x, 0, w, 10];

describe('CLEAR MOT', () => {
  it('counts FP, FN and ID switches (hand-computed)', () => {
    const frames: MotFrame[] = [
      {
        groundTruth: [
          { id: 'a', bbox: box(0) },
          { id: 'b', bbox: box(50) },
        ],
        hypotheses: [
          { id: 1, bbox: box(0) },
          { id: 2, bbox: box(50) },
        ],
      },
      // The hypotheses swap objects: two switches.
      {
        groundTruth: [
          { id: 'a', bbox: box(0) },
          { id: 'b', bbox: box(50) },
        ],
        hypotheses: [
          { id: 1, bbox: box(50) },
          { id: 2, bbox: box(0) },
        ],
      },
      // 'a' continues with 2; hypothesis 3 is a false positive.
      {
        groundTruth: [{ id: 'a', bbox: box(0) }],
        hypotheses: [
          { id: 2, bbox: box(1) },
          { id: 3, bbox: box(200) },
        ],
      },
      // Nothing tracked: two misses.
      {
        groundTruth: [
          { id: 'a', bbox: box(0) },
          { id: 'b', bbox: box(50) },
        ],
        hypotheses: [],
      },
    ];
    const r = clearMot(frames);
    expect([r.groundTruth, r.matches, r.falseNegatives, r.falsePositives, r.idSwitches]).toEqual([7, 5, 2, 1, 2]);
    expect(r.mota).toBeCloseTo(1 - 5 / 7, 15);
    expect(r.motp).toBeCloseTo((4 + 9 / 11) / 5, 15);
  });

  it('keeps a still-valid earlier match over a better new one (no switch)', () => {
    const frames: MotFrame[] = [
      { groundTruth: [{ id: 'a', bbox: box(0) }], hypotheses: [{ id: 1, bbox: box(0) }] },
      {
        groundTruth: [{ id: 'a', bbox: box(0) }],
        hypotheses: [
          { id: 1, bbox: box(2) },
          { id: 2, bbox: box(0) },
        ],
      },
    ];
    const r = clearMot(frames);
    expect([r.idSwitches, r.falsePositives, r.matches]).toEqual([0, 1, 2]);
  });

  it('a match resumed after a gap with another hypothesis is a switch', () => {
    const frames: MotFrame[] = [
      { groundTruth: [{ id: 'a', bbox: box(0) }], hypotheses: [{ id: 1, bbox: box(0) }] },
      { groundTruth: [{ id: 'a', bbox: box(0) }], hypotheses: [] },
      { groundTruth: [{ id: 'a', bbox: box(0) }], hypotheses: [{ id: 5, bbox: box(0) }] },
    ];
    expect(clearMot(frames).idSwitches).toBe(1);
  });

  it('the assignment maximises the number of matches before minimising distance', () => {
    // h1 fits a best (IoU .905) but also b (.6); h2 fits only a (.6). Greedy would leave b unmatched.
    const frames: MotFrame[] = [
      {
        groundTruth: [
          { id: 'a', bbox: box(0) },
          { id: 'b', bbox: box(3) },
        ],
        hypotheses: [
          { id: 1, bbox: box(0.5) },
          { id: 2, bbox: box(-2.5) },
        ],
      },
    ];
    const r = clearMot(frames);
    expect([r.matches, r.falsePositives, r.falseNegatives]).toEqual([2, 0, 0]);
    expect(r.mota).toBe(1);
  });

  it('IoU below the threshold never matches', () => {
    const r = clearMot([{ groundTruth: [{ id: 'a', bbox: box(0) }], hypotheses: [{ id: 1, bbox: box(4) }] }]);
    // IoU 6/14 < 0.5
    expect([r.matches, r.falsePositives, r.falseNegatives, r.mota]).toEqual([0, 1, 1, -1]);
    expect(
      clearMot([{ groundTruth: [{ id: 'a', bbox: box(0) }], hypotheses: [{ id: 1, bbox: box(4) }] }], {
        iouThreshold: 0.4,
      }).matches,
    ).toBe(1);
  });

  it('malformed input names the frame and box', () => {
    expect(() => clearMot([{ groundTruth: [{ id: 'a', bbox: [0, 0, -1, 1] }], hypotheses: [] }])).toThrow(
      /frames\[0\]\.groundTruth\[0\] \(id a\)\.bbox'/,
    );
    expect(() =>
      clearMot([
        {
          groundTruth: [],
          hypotheses: [
            { id: 1, bbox: box(0) },
            { id: 1, bbox: box(5) },
          ],
        },
      ]),
    ).toThrow(/frames\[0\]\.hypotheses\[1\] \(id 1\)\.id' expected an id used once per frame/);
  });
});

describe('linearSumAssignment', () => {
  function bruteForce(cost: Float64Array, n: number, m: number): number {
    let best = Infinity;
    const used = new Array(m).fill(false);
    const walk = (i: number, sum: number) => {
      if (i === n) return void (best = Math.min(best, sum));
      for (let j = 0; j < m; j++) {
        if (used[j]) continue;
        used[j] = true;
        walk(i + 1, sum + cost[i * m + j]);
        used[j] = false;
      }
    };
    walk(0, 0);
    return best;
  }

  it('finds the optimum of random square and wide matrices (and tall ones by transposition)', () => {
    const rng = new Rng(11);
    for (const [n, m] of [
      [3, 3],
      [4, 6],
      [5, 5],
      [6, 4],
      [1, 4],
    ]) {
      for (let trial = 0; trial < 20; trial++) {
        const cost = Float64Array.from({ length: n * m }, () => Math.round(rng.uniform(0, 10) * 4) / 4);
        const assignment = linearSumAssignment(cost, n, m);
        const cols = [...assignment].filter((c) => c >= 0);
        expect(new Set(cols).size).toBe(Math.min(n, m));
        const total = [...assignment].reduce((s, c, i) => (c >= 0 ? s + cost[i * m + c] : s), 0);
        const transposed = new Float64Array(n * m);
        for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) transposed[j * n + i] = cost[i * m + j];
        expect(total).toBeCloseTo(n <= m ? bruteForce(cost, n, m) : bruteForce(transposed, m, n), 10);
      }
    }
  });
});

describe('flowEndPointError', () => {
  it('hand-computed EPE, thresholds and KITTI outliers, with and without a valid mask', () => {
    const gt = [0, 0, 3, 4, 10, 0];
    const pred = [0, 0, 0, 0, 10, 0.5];
    const r = flowEndPointError(pred, gt);
    expect(r.epe).toBeCloseTo((0 + 5 + 0.5) / 3, 15);
    expect([r.px1, r.px3, r.px5]).toEqual([2 / 3, 2 / 3, 2 / 3]);
    expect(r.fl).toBeCloseTo(1 / 3, 15);
    const masked = flowEndPointError(pred, gt, [1, 0, 1]);
    expect([masked.epe, masked.pixels, masked.fl]).toEqual([0.25, 2, 0]);
  });

  it('rejects mismatched sizes and unmasked non-finite values', () => {
    expect(() => flowEndPointError([0, 0], [0, 0, 0, 0])).toThrow(
      /groundTruth\.length' expected 2 \(as prediction\), got 4/,
    );
    expect(() => flowEndPointError([0, 0, 0, 0], [0, 0, NaN, 0])).toThrow(/groundTruth at pixel 1' expected finite/);
    expect(flowEndPointError([0, 0, 0, 0], [0, 0, NaN, 0], [1, 0]).pixels).toBe(1);
  });
});

describe('clearMot agrees with py-motmetrics (fixture from scripts/make_mot_fixtures.py)', () => {
  const { cases } = JSON.parse(readFileSync(new URL('./fixtures/mot_motmetrics.json', import.meta.url), 'utf8')) as {
    cases: {
      frames: MotFrame[];
      expected: {
        groundTruth: number;
        matches: number;
        falseNegatives: number;
        falsePositives: number;
        idSwitches: number;
        mota: number;
        motp: number;
      };
    }[];
  };
  cases.forEach(({ frames, expected }, n) => {
    it(`sequence ${n}: ${frames.length} frames`, () => {
      const r = clearMot(frames);
      expect([r.groundTruth, r.matches, r.falseNegatives, r.falsePositives, r.idSwitches]).toEqual([
        expected.groundTruth,
        expected.matches,
        expected.falseNegatives,
        expected.falsePositives,
        expected.idSwitches,
      ]);
      expect(r.mota).toBeCloseTo(expected.mota, 14);
      expect(r.motp).toBeCloseTo(expected.motp, 12);
    });
  });
});
