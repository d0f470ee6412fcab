import { describe, expect, it } from 'vitest';
import { Rng } from '../src/index';

describe('Rng', () => {
  it('is deterministic for a seed and differs across seeds', () => {
    expect(new Rng(7).uniformArray(5)).toEqual(new Rng(7).uniformArray(5));
    expect(new Rng(7).uniformArray(5)).not.toEqual(new Rng(8).uniformArray(5));
  });

  it('resumes the exact sequence from a saved state, also between the two normals of a Box-Muller pair', () => {
    for (const drawsBefore of [0, 1, 2, 3]) {
      const rng = new Rng(3);
      for (let i = 0; i < drawsBefore; i++) rng.normal();
      const resumed = new Rng(rng.state());
      const expected = [rng.normal(), rng.next(), rng.normal(), rng.normal()];
      expect([resumed.normal(), resumed.next(), resumed.normal(), resumed.normal()]).toEqual(expected);
    }
  });

  it('refuses a malformed state', () => {
    expect(() => new Rng([1, 2, 3])).toThrow(/4 words/);
  });

  it('draws standard normals', () => {
    const xs = new Rng(11).normalArray(20000);
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length;
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(variance - 1)).toBeLessThan(0.05);
  });
});
