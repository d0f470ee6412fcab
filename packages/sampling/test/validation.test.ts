import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@deformjs/core';
import { bilinearGather, bilinearGatherComposed } from '../src/index';
import type { BilinearGatherOptions } from '../src/index';

const OPTIONS: BilinearGatherOptions = { normalized: true, reduce: 'sum' };
const LEVELS = [
  [2, 3],
  [1, 2],
];
const STARTS = [0, 6];

describe('bilinearGather argument checks', () => {
  beforeAll(async () => {
    await initBackend('cpu');
  });

  const value = () => tf.zeros([2, 8, 3, 4]);
  const locations = () => tf.zeros([2, 5, 3, 2, 4, 2]);
  const weights = () => tf.zeros([2, 5, 3, 2, 4]);

  function expectError(run: () => unknown, pattern: RegExp) {
    tf.tidy(() => {
      expect(run).toThrow(pattern);
    });
  }

  it('accepts consistent arguments', () => {
    tf.tidy(() => {
      expect(bilinearGather(value(), LEVELS, STARTS, locations(), weights(), OPTIONS).shape).toEqual([2, 5, 3, 4]);
      expect(
        bilinearGather(value(), LEVELS, STARTS, locations(), null, { normalized: false, reduce: 'none' }).shape,
      ).toEqual([2, 5, 8, 3, 4]);
    });
  });

  it('names the argument with the wrong rank or shape', () => {
    expectError(
      () => bilinearGather(tf.zeros([2, 8, 12]), LEVELS, STARTS, locations(), weights(), OPTIONS),
      /bilinearGather: argument 'value' expected rank 4/,
    );
    expectError(
      () => bilinearGather(value(), LEVELS, STARTS, tf.zeros([2, 5, 3, 2, 4]), weights(), OPTIONS),
      /argument 'locations' expected rank 6/,
    );
    expectError(
      () => bilinearGather(value(), LEVELS, STARTS, tf.zeros([2, 5, 3, 2, 4, 3]), weights(), OPTIONS),
      /argument 'locations' expected .*dimension 5 = 2/,
    );
    expectError(
      () => bilinearGather(value(), LEVELS, STARTS, tf.zeros([1, 5, 3, 2, 4, 2]), weights(), OPTIONS),
      /argument 'locations' .*B=2/,
    );
    expectError(
      () => bilinearGather(value(), LEVELS, STARTS, locations(), tf.zeros([2, 5, 3, 2, 3]), OPTIONS),
      /argument 'weights' .*P=4/,
    );
  });

  it('refuses level sizes that do not fit in int32 instead of wrapping them', () => {
    expectError(
      () =>
        bilinearGather(
          value(),
          [
            [2 ** 32 + 2, 3],
            [1, 2],
          ],
          STARTS,
          locations(),
          weights(),
          OPTIONS,
        ),
      /bilinearGather: argument 'spatialShapes' expected positive integer rows \(H, W\) up to 2147483647, got \[\[4294967298, 3\], \[1, 2\]\]/,
    );
    expectError(
      () =>
        bilinearGather(
          value(),
          [
            [65536, 65536],
            [1, 2],
          ],
          [0, 2 ** 32],
          locations(),
          weights(),
          OPTIONS,
        ),
      /argument 'spatialShapes' expected levels of at most 2147483647 positions in all/,
    );
  });

  it('names group and level-count mismatches', () => {
    expectError(
      () => bilinearGather(value(), LEVELS, STARTS, tf.zeros([2, 5, 4, 2, 4, 2]), null, OPTIONS),
      /argument 'locations' .*G=3/,
    );
    expectError(
      () => bilinearGather(value(), LEVELS, STARTS, tf.zeros([2, 5, 3, 3, 4, 2]), null, OPTIONS),
      /argument 'locations' .*L=2/,
    );
  });

  it('checks the level layout against value', () => {
    expectError(
      () =>
        bilinearGather(
          value(),
          [
            [2, 3],
            [2, 2],
          ],
          [0, 6],
          locations(),
          null,
          OPTIONS,
        ),
      /argument 'spatialShapes' expected levels whose H\*W sum to S = 8.*summing to 10/,
    );
    expectError(
      () => bilinearGather(value(), LEVELS, [0, 5], locations(), null, OPTIONS),
      /argument 'levelStartIndex' expected \[0, 6\]/,
    );
    expectError(
      () => bilinearGather(value(), LEVELS, [0], locations(), null, OPTIONS),
      /argument 'levelStartIndex' expected .*L=2/,
    );
    expectError(
      () => bilinearGather(value(), [[2, 3, 1]], [0], locations(), null, OPTIONS),
      /argument 'spatialShapes' expected rows \(H, W\)/,
    );
    expectError(
      () =>
        bilinearGather(
          value(),
          [
            [0, 3],
            [8, 1],
          ],
          [0, 0],
          locations(),
          null,
          OPTIONS,
        ),
      /argument 'spatialShapes' expected positive integer rows/,
    );
    expectError(
      () => bilinearGather(value(), tf.tensor2d(LEVELS, [2, 2]), STARTS, locations(), null, OPTIONS),
      /argument 'spatialShapes' expected dtype int32/,
    );
    expectError(
      () =>
        bilinearGather(
          value(),
          tf.tensor2d(
            [
              [2, 3],
              [1, 2],
            ],
            [2, 2],
            'int32',
          ),
          tf.tensor1d([0, 7], 'int32'),
          locations(),
          null,
          OPTIONS,
        ),
      /argument 'levelStartIndex' expected \[0, 6\]/,
    );
  });

  it('checks dtypes and options', () => {
    expectError(
      () => bilinearGather(tf.zeros([2, 8, 3, 4], 'int32'), LEVELS, STARTS, locations(), null, OPTIONS),
      /argument 'value' expected dtype float32, got "int32"/,
    );
    expectError(
      () => bilinearGather(value(), LEVELS, STARTS, locations(), null, { normalized: true, reduce: 'mean' as never }),
      /argument 'options.reduce' expected one of "sum", "none"/,
    );
    expectError(
      () => bilinearGather(value(), LEVELS, STARTS, locations(), null, { reduce: 'sum' } as never),
      /argument 'options.normalized' expected true or false/,
    );
    expectError(
      () => bilinearGatherComposed(value(), LEVELS, [0, 5], locations(), null, OPTIONS),
      /bilinearGatherComposed: argument 'levelStartIndex'/,
    );
  });
});
