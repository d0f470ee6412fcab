import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { evaluateCoco, type CocoDataset, type CocoDetection } from '../src';

interface Fixture {
  case: string;
  groundTruth: CocoDataset;
  results: CocoDetection[];
  expected: {
    stats: number[];
    counts: number[];
    iouThrs: number[];
    recall: number[];
    precisionAllArea100: number[];
    precisionMeanOverR: number[];
    scoresAllArea100: number[];
  };
}

function load(name: string): Fixture {
  return JSON.parse(readFileSync(new URL(`./fixtures/coco_${name}.json`, import.meta.url), 'utf8'));
}

function maxAbsDiff(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  return worst;
}

describe('evaluateCoco agrees with pycocotools COCOeval (fixtures from scripts/make_coco_fixtures.py)', () => {
  for (const name of ['basic', 'ties', 'crowded']) {
    it(name, () => {
      const { groundTruth, results, expected } = load(name);
      const ours = evaluateCoco(groundTruth, results);
      const [T, R, K, A, M] = ours.counts;
      expect(ours.counts).toEqual(expected.counts);
      expect(ours.params.iouThrs).toEqual(expected.iouThrs);
      expect(maxAbsDiff(ours.stats, expected.stats)).toBeLessThanOrEqual(1e-10);
      expect(maxAbsDiff(ours.recall, expected.recall)).toBeLessThanOrEqual(1e-10);

      const slice = new Float64Array(T * R * K);
      const scoreSlice = new Float64Array(T * R * K);
      const meanOverR = new Float64Array(T * K * A * M);
      for (let t = 0; t < T; t++) {
        for (let k = 0; k < K; k++) {
          for (let a = 0; a < A; a++) {
            for (let m = 0; m < M; m++) {
              let sum = 0;
              for (let r = 0; r < R; r++) sum += ours.precision[(((t * R + r) * K + k) * A + a) * M + m];
              meanOverR[((t * K + k) * A + a) * M + m] = sum / R;
            }
          }
          for (let r = 0; r < R; r++) {
            const at = (((t * R + r) * K + k) * A + 0) * M + (M - 1);
            slice[(t * R + r) * K + k] = ours.precision[at];
            scoreSlice[(t * R + r) * K + k] = ours.scores[at];
          }
        }
      }
      // Same arithmetic in the same order: equal to the last bit.
      expect(Array.from(slice)).toEqual(expected.precisionAllArea100);
      expect(Array.from(scoreSlice)).toEqual(expected.scoresAllArea100);
      expect(Array.from(ours.recall)).toEqual(expected.recall);
      // numpy's mean over R sums pairwise, this test sequentially: equal to rounding.
      expect(maxAbsDiff(meanOverR, expected.precisionMeanOverR)).toBeLessThanOrEqual(1e-10);
      // Per-category AP: the mean of the category's defined precision over IoU thresholds and recalls.
      for (let k = 0; k < K; k++) {
        const values: number[] = [];
        for (let t = 0; t < T; t++)
          for (let r = 0; r < R; r++) values.push(expected.precisionAllArea100[(t * R + r) * K + k]);
        const defined = values.filter((v) => v > -1);
        const ap = defined.length ? defined.reduce((a, b) => a + b, 0) / defined.length : -1;
        expect(ours.perCategory[k].ap).toBeCloseTo(ap, 12);
      }
      // The stats agree to the last bit: same arithmetic, same summation order as numpy's mean.
      expect(ours.stats).toEqual(expected.stats);
    });
  }
});
