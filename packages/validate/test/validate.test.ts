import { describe as group, expect, it } from 'vitest';
import {
  DeformjsArgumentError,
  argumentError,
  assertInteger,
  checkShapes,
  describe,
  finiteField,
  isFiniteNumber,
  isFiniteNumbers,
  pair,
  requireRecord,
  xywhField,
} from '../src/index';

group('@deformjs/validate', () => {
  it('binds symbolic dimensions across arguments and names the one that disagrees', () => {
    const sizes = checkShapes('op', [
      { name: 'a', shape: [2, 3, 4], expected: ['N', 'L', 4] },
      { name: 'b', shape: [2, 5], expected: ['N', null] },
    ]);
    expect(sizes).toEqual({ N: 2, L: 3 });
    expect(() =>
      checkShapes('op', [
        { name: 'a', shape: [2, 3], expected: ['N', 3] },
        { name: 'b', shape: [4, 3], expected: ['N', 3] },
      ]),
    ).toThrow(`op: argument 'b' expected shape [N=2, 3] (dimension 0 = N = 2), got "shape [4, 3]"`);
  });

  it('argument and record errors carry the op, argument, expectation and value', () => {
    const error = argumentError('op', 'x', 'an integer >= 1', 0);
    expect(error).toBeInstanceOf(DeformjsArgumentError);
    expect([error.op, error.argument, error.expected, error.actual]).toEqual(['op', 'x', 'an integer >= 1', '0']);
    expect(() => assertInteger('op', 'n', 1.5, 0)).toThrow(`op: argument 'n' expected an integer >= 0, got 1.5`);
    expect(() => pair('conv', 'stride', [1, 0])).toThrow(`conv: argument 'stride' expected an integer >= 1, got 0`);
    const record = requireRecord('evaluate', 'results[3]', { score: Number.NaN, bbox: [0, 0, -1, 2] });
    expect(() => finiteField('evaluate', record, 'results[3]', 'score')).toThrow(
      `evaluate: argument 'results[3].score' expected a finite number, got NaN`,
    );
    expect(() => xywhField('evaluate', record, 'results[3]')).toThrow(
      /'results\[3\]\.bbox' expected \[x, y, w, h\] with w >= 0/,
    );
  });

  it('describes a huge or deeply nested value in one short line', () => {
    const million = Array.from({ length: 1_000_000 }, (_, i) => i);
    const shown = describe(million);
    expect(shown.length).toBeLessThan(200);
    expect(shown).toMatch(/^\[0, 1, 2, .*31, \.\.\. 999968 more\]$/);
    let deep: unknown = [];
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(describe(deep)).toBe('[[[[[1 elements]]]]]');
  });

  it('tells finite numbers and fixed-length lists of them from everything else', () => {
    expect([0, -1.5, 1e308].every(isFiniteNumber)).toBe(true);
    expect([NaN, Infinity, -Infinity, '1', null, undefined, [1]].some(isFiniteNumber)).toBe(false);
    expect(isFiniteNumbers([1, 2, 3])).toBe(true);
    expect(isFiniteNumbers([])).toBe(true);
    expect(isFiniteNumbers([1, 2, 3, 4], 4)).toBe(true);
    expect(isFiniteNumbers([1, 2, 3], 4)).toBe(false);
    expect(isFiniteNumbers([1, NaN, 3, 4], 4)).toBe(false);
    expect(isFiniteNumbers([1, '2', 3, 4], 4)).toBe(false);
    expect(isFiniteNumbers({ length: 4, 0: 1, 1: 2, 2: 3, 3: 4 }, 4)).toBe(false);
  });
});
