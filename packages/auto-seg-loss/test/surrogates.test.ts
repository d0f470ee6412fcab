import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, Rng } from '@deformjs/core';
import { TEST_BACKENDS, assertAllClose, assertNoTensorLeak, numericalGradient } from '@deformjs/core/testing';
import { SegmentationEvaluator } from '@deformjs/metrics';
import { describe, expect, it } from 'vitest';
import {
  autoSegLoss,
  surrogateMetric,
  identityControlPoints,
  VOC_PRESETS,
  TARGET_METRICS,
  type TargetMetric,
} from '../src';

interface FixtureCase {
  name: string;
  metric: TargetMetric;
  controlPoints: number[];
  tolerance: number;
  dropBackground: boolean;
  shape: [number, number, number, number];
  logits: number[];
  labels: number[];
  loss: number;
  grad: number[];
}

const fixtures = JSON.parse(readFileSync(new URL('./fixtures/surrogates.json', import.meta.url), 'utf8')) as {
  cases: FixtureCase[];
};

/** Blocky random label maps (3x3 cells) with every class, and optional void pixels. */
function labelMaps(rng: Rng, B: number, H: number, W: number, K: number, voidFraction = 0): Int32Array {
  const out = new Int32Array(B * H * W);
  for (let b = 0; b < B; b++) {
    const cells = Array.from({ length: Math.ceil(H / 3) * Math.ceil(W / 3) }, () => rng.int(K));
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++)
        out[(b * H + y) * W + x] = cells[Math.floor(y / 3) * Math.ceil(W / 3) + Math.floor(x / 3)];
  }
  for (let i = 0; i < out.length; i++) if (rng.next() < voidFraction) out[i] = 255;
  return out;
}

/** The metric's value for label maps, from @deformjs/metrics. */
function trueMetric(
  metric: TargetMetric,
  prediction: Int32Array,
  truth: Int32Array,
  [B, H, W, K]: number[],
  tolerance: number,
  dropBackground: boolean,
): number {
  const evaluator = new SegmentationEvaluator({
    numClasses: K,
    boundaryRadius: tolerance,
    boundaryTolerance: tolerance,
    dropBackground,
  });
  for (let b = 0; b < B; b++)
    evaluator.update(prediction.subarray(b * H * W, (b + 1) * H * W), truth.subarray(b * H * W, (b + 1) * H * W), H, W);
  const r = evaluator.result();
  return { mIoU: r.mIoU, FWIoU: r.fwIoU, mAcc: r.mAcc, gAcc: r.gAcc, BIoU: r.bIoU, BF1: r.bF1 }[metric];
}

function oneHotProbs(prediction: Int32Array, shape: number[]): tf.Tensor {
  return tf.tidy(() => tf.reshape(tf.cast(tf.oneHot(tf.tensor1d(prediction, 'int32'), shape[3]), 'float32'), shape));
}

describe.each(TEST_BACKENDS)('Auto Seg-Loss surrogates on %s', (backend) => {
  it.each(fixtures.cases.map((c) => [c.name, c] as const))(
    'matches the official PyTorch loss and gradient: %s',
    async (_, c) => {
      await initBackend(backend);
      const logits = tf.tensor4d(c.logits, c.shape);
      const labels = tf.tensor3d(c.labels, c.shape.slice(0, 3) as [number, number, number], 'int32');
      const options = {
        metric: c.metric,
        controlPoints: c.controlPoints,
        tolerance: c.tolerance,
        dropBackground: c.dropBackground,
      };
      const { value, grad } = await assertNoTensorLeak(() =>
        tf.valueAndGrad((l: tf.Tensor) => autoSegLoss(l, labels, options))(logits),
      );
      assertAllClose(value, [c.loss], { atol: 2e-5, rtol: 1e-4, name: `${c.name} loss` });
      const scale = Math.max(...c.grad.map(Math.abs));
      assertAllClose(grad, c.grad, { atol: 2e-3 * scale, rtol: 2e-3, name: `${c.name} gradient` });
      tf.dispose([value, grad, logits, labels]);
    },
  );

  it.each(TARGET_METRICS.map((m) => [m]))(
    '%s with identity curves equals the true metric for a one-hot prediction',
    async (metric) => {
      await initBackend(backend);
      const rng = new Rng(11);
      const shape = [2, 19, 23, 4];
      const voidFraction = 0.1;
      for (let trial = 0; trial < 3; trial++) {
        const truth = labelMaps(rng, shape[0], shape[1], shape[2], shape[3], voidFraction);
        const prediction = labelMaps(rng, shape[0], shape[1], shape[2], shape[3]);
        // Half the prediction copies the truth so that the metrics are far from 0.
        for (let i = 0; i < truth.length; i += 2) if (truth[i] !== 255) prediction[i] = truth[i];
        const tolerance = 1 + trial;
        const dropBackground = trial === 2;
        const probs = oneHotProbs(prediction, shape);
        const labels = tf.tensor3d(truth, [shape[0], shape[1], shape[2]], 'int32');
        const surrogate = surrogateMetric(probs, labels, {
          metric,
          controlPoints: identityControlPoints(metric),
          tolerance,
          dropBackground,
        });
        const expected = trueMetric(metric, prediction, truth, shape, tolerance, dropBackground);
        expect(expected).toBeGreaterThan(0.05);
        assertAllClose(surrogate, [expected], { atol: 2e-6, rtol: 1e-5, name: `${metric} surrogate` });
        tf.dispose([probs, labels, surrogate]);
      }
    },
  );

  it.each(TARGET_METRICS.map((m) => [m]))('%s has finite gradients at probabilities 0 and 1', async (metric) => {
    await initBackend(backend);
    const rng = new Rng(3);
    const shape: [number, number, number, number] = [1, 9, 10, 3];
    const labels = tf.tensor3d(labelMaps(rng, 1, 9, 10, 3, 0.1), [1, 9, 10], 'int32');
    // Saturated logits make softmax exactly one-hot in float32.
    const logits = tf.tidy(() =>
      tf.mul(
        tf.reshape(tf.cast(tf.oneHot(tf.tensor1d(labelMaps(rng, 1, 9, 10, 3), 'int32'), 3), 'float32'), shape),
        200,
      ),
    );
    for (const controlPoints of [VOC_PRESETS[metric], identityControlPoints(metric)]) {
      const grad = tf.tidy(() =>
        tf
          .grad((l: tf.Tensor) => autoSegLoss(l, labels, { metric, controlPoints, tolerance: 2 }))(logits)
          .dataSync(),
      );
      for (const g of grad) expect(Number.isFinite(g)).toBe(true);
      const probGrad = tf.tidy(() => {
        const probs = tf.softmax(logits);
        return tf
          .grad((p: tf.Tensor) => surrogateMetric(p, labels, { metric, controlPoints, tolerance: 2 }))(probs)
          .dataSync();
      });
      for (const g of probGrad) expect(Number.isFinite(g)).toBe(true);
    }
    tf.dispose([labels, logits]);
  });

  // BF1 is left out on purpose: the official loss and evaluator (and @deformjs/metrics) count predicted
  // boundaries on void pixels, so there the predictions on void do matter.
  it.each(TARGET_METRICS.filter((m) => m !== 'BF1').map((m) => [m]))(
    '%s ignores the predictions on ignored pixels',
    async (metric) => {
      await initBackend(backend);
      const rng = new Rng(5);
      const shape: [number, number, number, number] = [2, 12, 13, 3];
      const truth = labelMaps(rng, 2, 12, 13, 3);
      const inner: number[] = [];
      for (let b = 0; b < 2; b++) {
        for (let y = 2; y < 9; y++) {
          for (let x = 3; x < 10; x++) {
            const i = (b * 12 + y) * 13 + x;
            truth[i] = 255;
            inner.push(i);
          }
        }
      }
      const labels = tf.tensor3d(truth, [2, 12, 13], 'int32');
      const base = rng.normalArray(2 * 12 * 13 * 3, 0, 2);
      const changed = Float32Array.from(base);
      for (const i of inner) for (let k = 0; k < 3; k++) changed[i * 3 + k] = rng.normal(0, 5);
      const options = { metric, controlPoints: VOC_PRESETS[metric], tolerance: 2 };
      const [a, b] = tf.tidy(() => [
        autoSegLoss(tf.tensor4d(base, shape), labels, options).dataSync()[0],
        autoSegLoss(tf.tensor4d(changed, shape), labels, options).dataSync()[0],
      ]);
      expect(Math.abs(a - b)).toBeLessThan(1e-6);
      // The gradient on those pixels is zero.
      const grad = tf.tidy(() =>
        tf
          .grad((l: tf.Tensor) => autoSegLoss(l, labels, options))(tf.tensor4d(base, shape))
          .dataSync(),
      );
      for (const i of inner) for (let k = 0; k < 3; k++) expect(Math.abs(grad[i * 3 + k])).toBe(0);
      labels.dispose();
    },
  );
});

describe('Auto Seg-Loss gradients and arguments', () => {
  it('agrees with finite differences of its own value (random monotone curves)', async () => {
    await initBackend('cpu');
    const rng = new Rng(9);
    const shape: [number, number, number, number] = [1, 6, 7, 3];
    const labels = tf.tensor3d(labelMaps(rng, 1, 6, 7, 3, 0.1), [1, 6, 7], 'int32');
    const x0 = rng.normalArray(6 * 7 * 3);
    for (const metric of TARGET_METRICS) {
      const options = { metric, controlPoints: VOC_PRESETS[metric], tolerance: 1 };
      const f = (x: Float32Array) => tf.tidy(() => autoSegLoss(tf.tensor4d(x, shape), labels, options).dataSync()[0]);
      const analytic = tf.tidy(() =>
        tf
          .grad((l: tf.Tensor) => autoSegLoss(l, labels, options))(tf.tensor4d(x0, shape))
          .dataSync(),
      );
      // Max-pooling is only piecewise smooth: compare at the points where a small step keeps the argmax.
      const numeric = numericalGradient(f, x0, 1e-3);
      let close = 0;
      for (let i = 0; i < x0.length; i++)
        if (Math.abs(analytic[i] - numeric[i]) <= 2e-3 + 5e-2 * Math.abs(numeric[i])) close++;
      expect(close / x0.length, metric).toBeGreaterThan(metric === 'BF1' || metric === 'BIoU' ? 0.9 : 0.97);
    }
    labels.dispose();
  });

  it('reports bad arguments with the op, the argument, the expected and the actual value', async () => {
    await initBackend('cpu');
    const logits = tf.zeros([1, 4, 5, 3]);
    const labels = tf.zeros([1, 4, 5], 'int32');
    const controlPoints = VOC_PRESETS.mIoU;
    expect(() => autoSegLoss(logits, tf.zeros([1, 4, 6], 'int32'), { metric: 'mIoU', controlPoints })).toThrow(
      /autoSegLoss: argument 'labels' expected shape \[B=1, H=4, W=5\].*got "shape \[1, 4, 6\]"/,
    );
    expect(() => autoSegLoss(logits, tf.zeros([1, 4, 5]), { metric: 'mIoU', controlPoints })).toThrow(
      /argument 'labels' expected dtype int32, got "float32"/,
    );
    expect(() => autoSegLoss(logits, labels, { metric: 'mIoU', controlPoints: VOC_PRESETS.mAcc })).toThrow(
      /argument 'controlPoints' expected 2 curves of 2\(2n - 1\) numbers each for mIoU/,
    );
    expect(() => autoSegLoss(logits, labels, { metric: 'Dice' as TargetMetric, controlPoints })).toThrow(
      /argument 'metric' expected one of "mIoU"/,
    );
    expect(() => autoSegLoss(logits, labels, { metric: 'BF1', controlPoints: VOC_PRESETS.BF1, tolerance: -1 })).toThrow(
      /argument 'tolerance' expected an integer >= 0, got -1/,
    );
    tf.dispose([logits, labels]);
  });
});
