import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng, initBackend } from '@deformjs/core';
import {
  BELOW_LOW_THRESHOLD,
  BETWEEN_THRESHOLDS,
  iouMatrix,
  mapLevels,
  matchBoxes,
  sampleBalanced,
} from '../src/index';

interface MatcherCase {
  name: string;
  gt: number[][];
  pred: number[][];
  high: number;
  low: number;
  allow_low_quality: boolean;
  matches: number[];
}
const cases = JSON.parse(
  readFileSync(new URL('./fixtures/matcher.json', import.meta.url).pathname, 'utf8'),
) as MatcherCase[];

describe('matching and sampling', () => {
  beforeAll(async () => {
    await initBackend('cpu');
  });

  for (const c of cases) {
    it(`matchBoxes reproduces torchvision's Matcher: ${c.name}`, () => {
      const gt = Float32Array.from(c.gt.flat());
      const pred = Float32Array.from(c.pred.flat());
      const matches = matchBoxes(iouMatrix(gt, pred), c.gt.length, c.pred.length, c.high, c.low, c.allow_low_quality);
      expect(Array.from(matches)).toEqual(c.matches);
    });
  }

  it('matchBoxes without ground truth makes everything background', () => {
    const pred = Float32Array.from([0, 0, 4, 4, 1, 1, 3, 3]);
    expect(Array.from(matchBoxes(iouMatrix(new Float32Array(0), pred), 0, 2, 0.7, 0.3, true))).toEqual([
      BELOW_LOW_THRESHOLD,
      BELOW_LOW_THRESHOLD,
    ]);
  });

  it('matchBoxes: a ground truth that overlaps nothing matches nothing (torchvision would match every prediction)', () => {
    const gt = Float32Array.from([100, 100, 110, 110]);
    const pred = Float32Array.from([0, 0, 4, 4, 1, 1, 3, 3]);
    expect(Array.from(matchBoxes(iouMatrix(gt, pred), 1, 2, 0.7, 0.3, true))).toEqual([
      BELOW_LOW_THRESHOLD,
      BELOW_LOW_THRESHOLD,
    ]);
  });

  it('matchBoxes keeps the between-thresholds band ignored and the low-quality best match', () => {
    const gt = Float32Array.from([0, 0, 10, 10]);
    // IoU 0.5 (between 0.3 and 0.7, the best for this ground truth), 0.25 (below) and 0.5 again (tie: kept too).
    const pred = Float32Array.from([0, 0, 10, 5, 0, 0, 5, 5, 0, 5, 10, 10]);
    expect(Array.from(matchBoxes(iouMatrix(gt, pred), 1, 3, 0.7, 0.3, false))).toEqual([
      BETWEEN_THRESHOLDS,
      BELOW_LOW_THRESHOLD,
      BETWEEN_THRESHOLDS,
    ]);
    expect(Array.from(matchBoxes(iouMatrix(gt, pred), 1, 3, 0.7, 0.3, true))).toEqual([0, BELOW_LOW_THRESHOLD, 0]);
  });

  it('matchBoxes errors name the argument', () => {
    expect(() => matchBoxes(new Float32Array(3), 1, 2, 0.7, 0.3, true)).toThrow(/matchBoxes.*iou/);
    expect(() => matchBoxes(new Float32Array(2), 1, 2, 0.3, 0.7, true)).toThrow(/matchBoxes.*lowThreshold/);
  });

  it('sampleBalanced caps the foreground share and fills with background', () => {
    const labels = new Int32Array(1000);
    for (let i = 0; i < 300; i++) labels[i] = 1 + (i % 3);
    for (let i = 300; i < 350; i++) labels[i] = -1;
    const { positive, negative } = sampleBalanced(labels, 256, 0.5, new Rng(0));
    expect(positive.length).toBe(128);
    expect(negative.length).toBe(128);
    expect(Array.from(positive).every((i) => labels[i] >= 1)).toBe(true);
    expect(Array.from(negative).every((i) => labels[i] === 0)).toBe(true);
    expect(new Set([...positive, ...negative]).size).toBe(256);
  });

  it('sampleBalanced with few foreground takes them all and more background; with none only background', () => {
    const labels = new Int32Array(600);
    labels[5] = 2;
    labels[7] = 1;
    const few = sampleBalanced(labels, 512, 0.25, new Rng(1));
    expect(Array.from(few.positive).sort()).toEqual([5, 7]);
    expect(few.negative.length).toBe(510);
    const none = sampleBalanced(new Int32Array(100), 512, 0.25, new Rng(1));
    expect(none.positive.length).toBe(0);
    expect(none.negative.length).toBe(100);
    const ignoredOnly = sampleBalanced(new Int32Array(10).fill(-1), 256, 0.5, new Rng(1));
    expect(ignoredOnly.positive.length + ignoredOnly.negative.length).toBe(0);
  });

  it('mapLevels is the FPN level mapper: canonical 224 at level 4, clamped to [2, 5]', () => {
    const boxes = Float32Array.from([
      0, 0, 224, 224, 0, 0, 112, 112, 0, 0, 111, 111, 0, 0, 448, 448, 0, 0, 2000, 2000, 0, 0, 1, 1, 3, 3, 3, 3,
    ]);
    expect(Array.from(mapLevels(boxes, 2, 5, 224, 4))).toEqual([2, 1, 0, 3, 3, 0, 0]);
  });
});
