import * as tf from '@tensorflow/tfjs-core';
import { initBackend, Rng, DeformjsArgumentError } from '@deformjs/core';
import { TEST_BACKENDS, assertAllClose, assertNoTensorLeak, numericalGradient } from '@deformjs/core/testing';
import { describe, expect, it } from 'vitest';
import { bezier, controlPointsFromTheta, identityTheta, VOC_PRESETS, identityControlPoints } from '../src';
import { bezierPoints } from '../src/bezier';
import { bezierComposed } from '../src/composed';

/** x on a fine grid including both ends. */
const GRID = Array.from({ length: 201 }, (_, i) => i / 200);

function evaluate(controlPoints: readonly number[], xs: number[] = GRID): Float32Array {
  return tf.tidy(() => bezier(tf.tensor1d(xs), controlPoints).dataSync() as Float32Array);
}

function randomTheta(rng: Rng, size: number): number[] {
  return Array.from({ length: size }, () => rng.next());
}

describe.each(TEST_BACKENDS)('bezier on %s', (backend) => {
  it('starts at (0, 0), ends at (1, 1) and never decreases for random searched parameters', async () => {
    await initBackend(backend);
    const rng = new Rng(7);
    for (const pieces of [1, 2, 3]) {
      for (let trial = 0; trial < 20; trial++) {
        const controlPoints = controlPointsFromTheta(randomTheta(rng, 2 * (2 * pieces - 1)), 1);
        const y = evaluate(controlPoints);
        expect(y[0]).toBeCloseTo(0, 6);
        expect(y[y.length - 1]).toBeCloseTo(1, 6);
        for (let i = 1; i < y.length; i++) expect(y[i]).toBeGreaterThanOrEqual(y[i - 1] - 1e-6);
      }
    }
  });

  it('is the identity for the search starting mean and for identity control points', async () => {
    await initBackend(backend);
    for (const pieces of [1, 2, 3]) {
      const mapped = controlPointsFromTheta(identityTheta(pieces), 1);
      assertAllClose(mapped, identityControlPoints('gAcc', pieces), { atol: 1e-12, name: 'identity control points' });
      assertAllClose(evaluate(mapped), GRID, { atol: 2e-6, name: `identity g, ${pieces} pieces` });
    }
    expect(identityTheta(2)).toEqual([1 / 4, 1 / 4, 1 / 3, 1 / 3, 1 / 2, 1 / 2]);
  });

  it('matches the quadratic Bezier curve it is built from, sampled by t', async () => {
    await initBackend(backend);
    const controlPoints = VOC_PRESETS.mIoU.slice(0, 6);
    const [x1, y1, x2, y2, x3, y3] = controlPoints;
    const pieces = [
      [0, 0, x1, y1, x2, y2],
      [x2, y2, x3, y3, 1, 1],
    ];
    const xs: number[] = [];
    const ys: number[] = [];
    for (const [ax, ay, bx, by, cx, cy] of pieces) {
      for (let t = 0.05; t < 1; t += 0.1) {
        xs.push((1 - t) ** 2 * ax + 2 * t * (1 - t) * bx + t * t * cx);
        ys.push((1 - t) ** 2 * ay + 2 * t * (1 - t) * by + t * t * cy);
      }
    }
    assertAllClose(evaluate(controlPoints, xs), ys, { atol: 2e-5, name: 'g(x(t)) = y(t)' });
  });

  it('has finite gradients at 0 and 1, also where the curve has a vertical tangent', async () => {
    await initBackend(backend);
    // Controls on a piece's start x (slope infinite at x = 0) and end x (at x = 1), and the published presets.
    const cases = [
      [0, 0.5, 0.5, 0.6, 1, 0.8],
      [0, 0.9],
      [1, 0.1],
      ...Object.values(VOC_PRESETS).map((p) => p.slice(0, 2)),
    ];
    for (const controlPoints of cases) {
      const grad = tf.tidy(() =>
        tf
          .grad((x: tf.Tensor) => tf.sum(bezier(x, controlPoints)))(tf.tensor1d([0, 1e-7, 0.5, 1 - 1e-7, 1]))
          .dataSync(),
      );
      for (const g of grad) expect(Number.isFinite(g)).toBe(true);
    }
  });

  it('has gradients that agree with finite differences', async () => {
    await initBackend(backend);
    const controlPoints = controlPointsFromTheta([0.3, 0.7, 0.4, 0.2, 0.6, 0.5], 1);
    const xs = [0.03, 0.15, 0.31, 0.47, 0.62, 0.78, 0.93];
    const analytic = tf.tidy(() =>
      tf
        .grad((x: tf.Tensor) => tf.sum(bezier(x, controlPoints)))(tf.tensor1d(xs))
        .dataSync(),
    );
    const numeric = numericalGradient(
      (x) => evaluate(controlPoints, Array.from(x)).reduce((a, b) => a + b, 0),
      xs,
      1e-3,
    );
    assertAllClose(analytic, numeric, { atol: 2e-2, rtol: 2e-2, name: 'dg/dx' });
  });

  it('fused kernel agrees with the composed tf ops, values and gradients', async () => {
    await initBackend(backend);
    const rng = new Rng(21);
    const xs = [0, 1, 1e-6, 1 - 1e-6, ...Array.from({ length: 60 }, () => rng.next())];
    const curves = [
      [0, 0.5, 0.5, 0.6, 1, 0.8],
      [0, 0.9],
      [1, 0.1],
      ...Object.values(VOC_PRESETS).map((p) => p.slice(0, p.length === 8 ? 2 : 6)),
      controlPointsFromTheta(randomTheta(rng, 10), 1),
    ];
    for (const controlPoints of curves) {
      const x = tf.tensor1d(xs);
      const weights = tf.tensor1d(xs.map((_, i) => 1 + (i % 3)));
      const loss = (f: (t: tf.Tensor) => tf.Tensor) => (t: tf.Tensor) => tf.sum(tf.mul(f(t), weights));
      const fused = [bezier(x, controlPoints), tf.grad(loss((t) => bezier(t, controlPoints)))(x)];
      const composed = [
        bezierComposed(x, bezierPoints('test', controlPoints)),
        tf.grad(loss((t) => bezierComposed(t, bezierPoints('test', controlPoints))))(x),
      ];
      assertAllClose(fused[0], composed[0], { atol: 2e-6, name: `g, [${controlPoints}]` });
      // At x = 0 and 1 exactly the composed clip's float32 rounding decides whether an end piece passes its
      // one-sided slope: compare slopes inside (0, 1).
      assertAllClose(fused[1].dataSync().slice(2), composed[1].dataSync().slice(2), {
        atol: 1e-3,
        rtol: 1e-3,
        name: `g', [${controlPoints}]`,
      });
      tf.dispose([x, weights, ...fused, ...composed]);
    }
  });

  it('leaves no tensors behind, forward and backward', async () => {
    await initBackend(backend);
    const x = tf.tensor1d(GRID);
    await assertNoTensorLeak(() => {
      tf.dispose(bezier(x, VOC_PRESETS.mAcc));
      tf.dispose(tf.grad((v: tf.Tensor) => tf.sum(bezier(v, VOC_PRESETS.mAcc)))(x));
    });
    x.dispose();
  });
});

describe('bezier arguments', () => {
  it('names the argument and the expected value', async () => {
    await initBackend('cpu');
    const x = tf.tensor1d([0.5]);
    expect(() => bezier(x, [0.1, 0.2, 0.3])).toThrow(
      /bezier: argument 'controlPoints' expected 2\(2n - 1\) numbers.*got \[0.1, 0.2, 0.3\]/,
    );
    expect(() => bezier(x, [0.5, 0.5, 0.4, 0.6, 0.7, 0.8])).toThrow(/x coordinates that never decrease/);
    expect(() => bezier(x, [1.5, 0.2])).toThrow(DeformjsArgumentError);
    expect(() => controlPointsFromTheta([0.2, 0.3, 0.4], 1)).toThrow(/controlPointsFromTheta: argument 'theta'/);
    expect(() => controlPointsFromTheta([0.2, -0.1], 1)).toThrow(/theta\[1\]' expected a number in \[0, 1\]/);
    x.dispose();
  });
});
