import * as tf from '@tensorflow/tfjs-core';
import { argumentError, assertDtype, assertOneOf, checkShapes } from '@deformjs/core';

const INT32_MAX = 2 ** 31 - 1;

/** A level layout given as an int32 tensor or as plain numbers. */
export type SpatialShapesLike = tf.Tensor | readonly (readonly number[])[];
export type LevelStartIndexLike = tf.Tensor | readonly number[];

export interface ResolvedLevels {
  /** Rows (H, W) of each level. */
  shapes: Int32Array;
  starts: Int32Array;
  /** sum of H * W over the levels. */
  total: number;
}

/**
 * Reads the level layout and checks it: positive integer (H, W) rows, and start indices equal to the running
 * sum of H * W. Errors name `op` and the argument names given (so a wrapping op reports its own names).
 */
export function resolveLevels(
  op: string,
  spatialShapes: SpatialShapesLike,
  levelStartIndex: LevelStartIndexLike,
  names: { spatialShapes: string; levelStartIndex: string } = {
    spatialShapes: 'spatialShapes',
    levelStartIndex: 'levelStartIndex',
  },
): ResolvedLevels {
  const shapesShape =
    spatialShapes instanceof tf.Tensor
      ? spatialShapes.shape
      : [spatialShapes.length, ...(spatialShapes.length > 0 ? [spatialShapes[0].length] : [2])];
  if (spatialShapes instanceof tf.Tensor) assertDtype(op, names.spatialShapes, spatialShapes.dtype, ['int32']);
  else if (spatialShapes.some((row) => row.length !== 2))
    throw argumentError(op, names.spatialShapes, 'rows (H, W) of 2 integers', spatialShapes);
  const { L } = checkShapes(op, [{ name: names.spatialShapes, shape: shapesShape, expected: ['L', 2] }]);
  if (L < 1) throw argumentError(op, names.spatialShapes, 'at least one level', shapesShape);
  const startsShape = levelStartIndex instanceof tf.Tensor ? levelStartIndex.shape : [levelStartIndex.length];
  if (levelStartIndex instanceof tf.Tensor) assertDtype(op, names.levelStartIndex, levelStartIndex.dtype, ['int32']);
  checkShapes(op, [{ name: names.levelStartIndex, shape: startsShape, expected: ['L'] }], { L });

  const shapes =
    spatialShapes instanceof tf.Tensor
      ? Int32Array.from(spatialShapes.dataSync() as Int32Array)
      : Int32Array.from(spatialShapes.flat());
  const starts =
    levelStartIndex instanceof tf.Tensor
      ? Int32Array.from(levelStartIndex.dataSync() as Int32Array)
      : Int32Array.from(levelStartIndex);
  // Checked before trusting the int32 copy: 2^32 + 2 would wrap to 2 there.
  const given = spatialShapes instanceof tf.Tensor ? Array.from(shapes) : spatialShapes.flat();
  if (!given.every((v) => Number.isInteger(v) && v >= 1 && v <= INT32_MAX)) {
    throw argumentError(
      op,
      names.spatialShapes,
      `positive integer rows (H, W) up to ${INT32_MAX}`,
      spatialShapes instanceof tf.Tensor ? toRows(shapes) : spatialShapes,
    );
  }
  const givenStarts = levelStartIndex instanceof tf.Tensor ? Array.from(starts) : [...levelStartIndex];
  let total = 0;
  for (let l = 0; l < L; l++) {
    if (givenStarts[l] !== total) {
      const expected = Array.from({ length: L }, (_, i) => prefix(shapes, i));
      throw argumentError(
        op,
        names.levelStartIndex,
        `[${expected.join(', ')}] (the running sum of H*W over ${names.spatialShapes} ${describeRows(shapes)})`,
        givenStarts,
      );
    }
    total += shapes[2 * l] * shapes[2 * l + 1];
    if (total > INT32_MAX)
      throw argumentError(op, names.spatialShapes, `levels of at most ${INT32_MAX} positions in all`, toRows(shapes));
  }
  return { shapes, starts, total };
}

function prefix(shapes: Int32Array, level: number): number {
  let total = 0;
  for (let l = 0; l < level; l++) total += shapes[2 * l] * shapes[2 * l + 1];
  return total;
}

function toRows(shapes: Int32Array): number[][] {
  const rows: number[][] = [];
  for (let i = 0; i < shapes.length; i += 2) rows.push([shapes[i], shapes[i + 1]]);
  return rows;
}

function describeRows(shapes: Int32Array): string {
  return `[${toRows(shapes)
    .map((r) => `(${r.join(', ')})`)
    .join(', ')}]`;
}

/** The S dimension of value must equal the levels' total size. */
export function checkTotal(
  op: string,
  levels: ResolvedLevels,
  S: number,
  names: { value: string; spatialShapes: string },
): void {
  if (levels.total !== S) {
    throw argumentError(
      op,
      names.spatialShapes,
      `levels whose H*W sum to S = ${S} (dimension 1 of ${names.value})`,
      `${describeRows(levels.shapes)}, summing to ${levels.total}`,
    );
  }
}

export interface BilinearGatherOptions {
  /** Locations in [0, 1] per level with align_corners=False (pixel x = u * W - 0.5), else pixel coordinates. */
  normalized: boolean;
  /** 'sum': out [B, Q, G, Cg], summed over levels and points; 'none': out [B, Q, L*P, G, Cg], every sample kept. */
  reduce: 'sum' | 'none';
}

/** The argument names an op reports in its errors (a wrapping op passes its own, e.g. PyTorch's). */
export interface GatherArgumentNames {
  value: string;
  spatialShapes: string;
  levelStartIndex: string;
  locations: string;
  weights: string;
}

export const GATHER_ARGUMENT_NAMES: GatherArgumentNames = {
  value: 'value',
  spatialShapes: 'spatialShapes',
  levelStartIndex: 'levelStartIndex',
  locations: 'locations',
  weights: 'weights',
};

export interface CheckedGather {
  levels: ResolvedLevels;
  dims: { B: number; S: number; G: number; C: number; Q: number; L: number; P: number };
  options: BilinearGatherOptions;
}

/** Validates every argument of a bilinear gather; the first problem throws an error naming the argument. */
export function checkGatherArguments(
  op: string,
  value: tf.Tensor,
  spatialShapes: SpatialShapesLike,
  levelStartIndex: LevelStartIndexLike,
  locations: tf.Tensor,
  weights: tf.Tensor | null,
  options: BilinearGatherOptions,
  names: GatherArgumentNames = GATHER_ARGUMENT_NAMES,
): CheckedGather {
  checkGatherInputs(op, value, locations, weights, options, names);
  return checkGatherShapes(
    op,
    value,
    resolveLevels(op, spatialShapes, levelStartIndex, names),
    locations,
    weights,
    options,
    names,
  );
}

/**
 * `checkGatherArguments` for a caller that resolved the level layout already (`resolveLevels`, once for many
 * gathers): checks the tensors and options against it without reading the layout again.
 */
export function checkGatherArgumentsResolved(
  op: string,
  value: tf.Tensor,
  levels: ResolvedLevels,
  locations: tf.Tensor,
  weights: tf.Tensor | null,
  options: BilinearGatherOptions,
  names: GatherArgumentNames = GATHER_ARGUMENT_NAMES,
): CheckedGather {
  checkGatherInputs(op, value, locations, weights, options, names);
  return checkGatherShapes(op, value, levels, locations, weights, options, names);
}

function checkGatherInputs(
  op: string,
  value: tf.Tensor,
  locations: tf.Tensor,
  weights: tf.Tensor | null,
  options: BilinearGatherOptions,
  names: GatherArgumentNames,
): void {
  if (!(value instanceof tf.Tensor)) throw argumentError(op, names.value, 'a tensor', value);
  if (!(locations instanceof tf.Tensor)) throw argumentError(op, names.locations, 'a tensor', locations);
  if (weights !== null && !(weights instanceof tf.Tensor))
    throw argumentError(op, names.weights, 'a tensor or null', weights);
  if (options === null || typeof options !== 'object')
    throw argumentError(op, 'options', '{ normalized, reduce }', options);
  if (typeof options.normalized !== 'boolean')
    throw argumentError(op, 'options.normalized', 'true or false', options.normalized);
  assertOneOf(op, 'options.reduce', options.reduce, ['sum', 'none'] as const);
  assertDtype(op, names.value, value.dtype, ['float32']);
  assertDtype(op, names.locations, locations.dtype, ['float32']);
  if (weights) assertDtype(op, names.weights, weights.dtype, ['float32']);
}

function checkGatherShapes(
  op: string,
  value: tf.Tensor,
  levels: ResolvedLevels,
  locations: tf.Tensor,
  weights: tf.Tensor | null,
  options: BilinearGatherOptions,
  names: GatherArgumentNames,
): CheckedGather {
  const L = levels.shapes.length / 2;
  const checks = [
    { name: names.value, shape: value.shape, expected: ['B', 'S', 'G', 'Cg'] },
    { name: names.locations, shape: locations.shape, expected: ['B', 'Q', 'G', 'L', 'P', 2] },
    ...(weights ? [{ name: names.weights, shape: weights.shape, expected: ['B', 'Q', 'G', 'L', 'P'] }] : []),
  ];
  const sizes = checkShapes(op, checks, { L });
  checkTotal(op, levels, sizes.S, names);
  return {
    levels,
    dims: { B: sizes.B, S: sizes.S, G: sizes.G, C: sizes.Cg, Q: sizes.Q, L, P: sizes.P },
    options: { normalized: options.normalized, reduce: options.reduce },
  };
}
