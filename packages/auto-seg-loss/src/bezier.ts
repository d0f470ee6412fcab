import * as tf from '@tensorflow/tfjs-core';
import { argumentError, hasFusedKernels, registerFusedKernel, runFused } from '@deformjs/core';
import { bezierForward } from './bezier_impl';
import { name, version } from '../package.json';

/**
 * The floor under the square root that inverts x(t). The root reaches 0 only where a control point's x
 * coincides with its piece's start (at x = start) or end (at x = end), where the curve has a vertical tangent;
 * the floor keeps the gradient finite there and moves g by at most about 1e-6.
 */
const ROOT_FLOOR = 1e-12;

/**
 * g: [0, 1] -> [0, 1], a piecewise quadratic Bezier curve from (0, 0) to (1, 1) (the truth-table endpoints).
 * `controlPoints` = [x1, y1, x2, y2, ..., x_{2n-1}, y_{2n-1}] for n pieces: piece i runs from P_{2i} through the
 * control P_{2i+1} to P_{2i+2}, with P_0 = (0, 0) and P_{2n} = (1, 1); the x coordinates must not decrease.
 * This is the `bezier` parameterisation of the official AutoSegLoss. Works elementwise on any tensor whose
 * values lie in [0, 1]; differentiable in `x`.
 */
export function bezier(x: tf.Tensor, controlPoints: readonly number[]): tf.Tensor {
  const points = bezierPoints('bezier', controlPoints);
  if (hasFusedKernels() && x.dtype === 'float32') {
    registerBezierKernel();
    return tf.tidy(() => {
      const [y, slope] = runFused(BEZIER_KERNEL, { x }, { points: points.flat() });
      slope.dispose();
      return y;
    });
  }
  return bezierComposed(x, points);
}

const BEZIER_KERNEL = 'DeformjsBezier';
let bezierRegistered = false;

/** One pass computing g and g' (kept for the gradient, dy * g'), instead of a dozen tf ops per piece. */
function registerBezierKernel(): void {
  if (bezierRegistered) return;
  bezierRegistered = true;
  registerFusedKernel<{ points: number[] }>({
    kernelName: BEZIER_KERNEL,
    owner: `${name}@${version}`,
    outputs: ([shape]) => [{ shape }, { shape }],
    compute: ([x], [y, slope], _, { points }) => bezierForward(x, y, slope, points, ROOT_FLOOR),
  });
  tf.registerGradient({
    kernelName: BEZIER_KERNEL,
    outputsToSave: [false, true],
    gradFunc: (dy, saved) => ({ x: () => tf.mul(Array.isArray(dy) ? dy[0] : dy, saved[0]) }),
  });
}

/** The composed version, from tf ops with gradients on every backend (and the fused kernel's reference). */
export function bezierComposed(x: tf.Tensor, points: ReadonlyArray<readonly [number, number]>): tf.Tensor {
  return tf.tidy(() => {
    let y: tf.Tensor | null = null;
    for (let i = 0; i + 2 < points.length; i += 2) {
      const [xs, ys] = points[i];
      const [xc, yc] = points[i + 1];
      const [xe, ye] = points[i + 2];
      const width = xe - xs;
      if (width <= 0) continue; // a piece of zero width covers no x
      // On a piece, x' = (x - xs) / width solves x' = 2t(1-t)c + t^2 with c the control's relative x; the root
      // t = (c - sqrt(c^2 + (1-2c)x')) / (2c - 1) is rewritten as x' / (c + sqrt(...)), exact for c = 1/2 too
      // and free of cancellation near it.
      // Under the root, c^2 + (1-2c)x' is written as a sum of two non-negative terms (the second form for
      // c >= 1/2), so float32 keeps its relative accuracy where it approaches 0.
      const c = (xc - xs) / width;
      const u = tf.clipByValue(tf.div(tf.sub(x, xs), width), 0, 1);
      const radicand =
        c < 0.5 ? tf.add(tf.mul(u, 1 - 2 * c), c * c) : tf.add(tf.mul(tf.sub(1, u), 2 * c - 1), (1 - c) * (1 - c));
      const root = tf.sqrt(tf.maximum(radicand, ROOT_FLOOR));
      const t = tf.div(u, tf.add(root, c));
      // The piece's rise above its start, y(t) - ys = 2t(yc - ys) + t^2(ys - 2yc + ye): clipping u makes every
      // piece left of x contribute its whole rise and every piece right of x nothing, so g is their sum.
      const rise = tf.mul(t, tf.add(tf.mul(t, ys - 2 * yc + ye), 2 * (yc - ys)));
      y = y === null ? rise : tf.add(y, rise);
    }
    return y as tf.Tensor;
  });
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
