import type * as tf from '@tensorflow/tfjs-core';
import { argumentError, hasFusedKernels } from '@deformjs/core';
import { bezierComposed } from './composed';
import { bezierKernel } from './kernels';

/**
 * g: [0, 1] -> [0, 1], a piecewise quadratic Bezier curve from (0, 0) to (1, 1) (the truth-table endpoints).
 * `controlPoints` = [x1, y1, x2, y2, ..., x_{2n-1}, y_{2n-1}] for n pieces: piece i runs from P_{2i} through the
 * control P_{2i+1} to P_{2i+2}, with P_0 = (0, 0) and P_{2n} = (1, 1); the x coordinates must not decrease.
 * This is the `bezier` parameterisation of the official AutoSegLoss. Works elementwise on any tensor whose
 * values lie in [0, 1]; differentiable in `x`.
 */
export function bezier(x: tf.Tensor, controlPoints: readonly number[]): tf.Tensor {
  const points = bezierPoints('bezier', controlPoints);
  if (hasFusedKernels() && x.dtype === 'float32') return bezierKernel(x, points.flat());
  return bezierComposed(x, points);
}

/**
 * Maps raw search parameters theta in [0, 1] to control points whose x and y never decrease, so every
 * sample of the search is a valid monotone g: per curve, c_p = theta_p (1 - c_{p-1}) + c_{p-1}, separately
 * for x and y (as the official search does). `theta` holds `numCurves` curves back to back.
 */
export function controlPointsFromTheta(theta: readonly number[], numCurves: number): number[] {
  if (
    !Number.isInteger(numCurves) ||
    numCurves < 1 ||
    theta.length % numCurves !== 0 ||
    (theta.length / numCurves) % 4 !== 2
  ) {
    throw argumentError(
      'controlPointsFromTheta',
      'theta',
      `${numCurves} curves of 2(2n - 1) values each`,
      Array.from(theta),
    );
  }
  theta.forEach((v, i) => {
    if (!(v >= 0 && v <= 1)) throw argumentError('controlPointsFromTheta', `theta[${i}]`, 'a number in [0, 1]', v);
  });
  const perCurve = theta.length / numCurves;
  const out = Array.from(theta);
  for (let start = 0; start < out.length; start += perCurve) {
    for (let p = 2; p < perCurve; p += 2) {
      for (const axis of [0, 1]) {
        const previous = out[start + p - 2 + axis];
        out[start + p + axis] = out[start + p + axis] * (1 - previous) + previous;
      }
    }
  }
  return out;
}

/**
 * The raw theta of one curve of `numPieces` pieces that `controlPointsFromTheta` maps to the identity g(x) = x
 * (control points evenly spaced on the diagonal): the search's starting mean, [1/4, 1/4, 1/3, 1/3, 1/2, 1/2]
 * for two pieces.
 */
export function identityTheta(numPieces: number): number[] {
  const out: number[] = [];
  const count = 2 * numPieces - 1;
  for (let k = 1; k <= count; k++) out.push(1 / (count - k + 2), 1 / (count - k + 2));
  return out;
}

/** Validates one curve's control points and returns the whole point list from (0, 0) to (1, 1). */
export function bezierPoints(op: string, controlPoints: readonly number[]): Array<[number, number]> {
  if (controlPoints.length % 4 !== 2) {
    throw argumentError(
      op,
      'controlPoints',
      '2(2n - 1) numbers for n quadratic pieces (2, 6, 10, ...)',
      Array.from(controlPoints),
    );
  }
  const points: Array<[number, number]> = [[0, 0]];
  for (let i = 0; i < controlPoints.length; i += 2) points.push([controlPoints[i], controlPoints[i + 1]]);
  points.push([1, 1]);
  controlPoints.forEach((v, i) => {
    if (!(v >= 0 && v <= 1)) throw argumentError(op, `controlPoints[${i}]`, 'a number in [0, 1]', v);
  });
  for (let i = 1; i < points.length; i++) {
    if (points[i][0] < points[i - 1][0]) {
      throw argumentError(
        op,
        'controlPoints',
        'x coordinates that never decrease from 0 to 1',
        `[${controlPoints.join(', ')}]`,
      );
    }
  }
  return points;
}
