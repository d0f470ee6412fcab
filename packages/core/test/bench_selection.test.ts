import { describe, expect, it } from 'vitest';
import { benchSelection } from '../src/bench';

const spec = { cases: ['a', 'b', 'c'], rounds: 9, warmup: 3 };

describe('benchSelection', () => {
  it("takes the spec's cases, rounds, warm-up and the current folder without the variables", () => {
    expect(benchSelection(spec, {})).toEqual({ cases: ['a', 'b', 'c'], rounds: 9, warmup: 3, dir: process.cwd() });
    expect(benchSelection({ cases: ['a'] }, {})).toMatchObject({ rounds: 7, warmup: 2 });
  });

  it('keeps the named cases in the spec order, ignores names it lacks, and takes rounds, warm-up and folder', () => {
    const env = {
      DEFORMJS_BENCH_CASES: JSON.stringify(['c', 'zzz', 'a']),
      DEFORMJS_BENCH_ROUNDS: '3',
      DEFORMJS_BENCH_WARMUP: '0',
      DEFORMJS_BENCH_DIR: '/somewhere',
    };
    expect(benchSelection(spec, env)).toEqual({ cases: ['a', 'c'], rounds: 3, warmup: 0, dir: '/somewhere' });
  });

  it('names the variable and what came on bad values', () => {
    expect(() => benchSelection(spec, { DEFORMJS_BENCH_CASES: 'a,b' })).toThrow(
      /DEFORMJS_BENCH_CASES must be a JSON array of case names, got a,b/,
    );
    expect(() => benchSelection(spec, { DEFORMJS_BENCH_CASES: '[1]' })).toThrow(/JSON array of case names, got \[1\]/);
    expect(() => benchSelection(spec, { DEFORMJS_BENCH_ROUNDS: '0' })).toThrow(
      /DEFORMJS_BENCH_ROUNDS must be an integer >= 1, got "0"/,
    );
    expect(() => benchSelection(spec, { DEFORMJS_BENCH_WARMUP: '1.5' })).toThrow(
      /DEFORMJS_BENCH_WARMUP must be an integer >= 0, got "1.5"/,
    );
  });
});
