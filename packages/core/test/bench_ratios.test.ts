import { describe, expect, it } from 'vitest';
import { roundRatios } from '../src/bench';

describe('roundRatios', () => {
  it('gives the median of the per-round ratios with min and max, not the ratio of the medians', () => {
    // Rounds 2 and 3 are slow for both sides; round 3 also slows a only (ratio 4, the max). The medians of the
    // times would give 23 / 6.5 = 3.5; the per-round ratios' median is 2.
    expect(roundRatios([2, 40, 40, 6], [1, 20, 10, 3])).toEqual({ ratio: 2, ratioMin: 2, ratioMax: 4 });
    expect(roundRatios([1, 2, 3], [3, 3, 3])).toEqual({ ratio: 0.667, ratioMin: 0.333, ratioMax: 1 });
  });

  it('refuses lists of different lengths or empty ones, naming both lengths', () => {
    expect(() => roundRatios([1, 2], [1])).toThrow(/roundRatios.*equally long.*got 2 and 1/);
    expect(() => roundRatios([], [])).toThrow(/got 0 and 0/);
  });
});
