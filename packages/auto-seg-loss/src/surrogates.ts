import * as tf from '@tensorflow/tfjs-core';
import { argumentError, assertDtype, assertInteger, assertOneOf, assertPositive, checkShapes } from '@deformjs/core';
import { bezier } from './bezier';
import { windowMax } from './window_max';

export const TARGET_METRICS = ['mIoU', 'FWIoU', 'mAcc', 'gAcc', 'BIoU', 'BF1'] as const;
export type TargetMetric = (typeof TARGET_METRICS)[number];

/**
 * How many g curves each surrogate uses: the IoUs an AND (g_I) and an OR (g_U), the accuracies one AND, BF1
 * four (AND and OR of the probabilities and their soft erosion, whose XOR is the soft boundary).
 */
export const CURVES_PER_METRIC: Readonly<Record<TargetMetric, number>> = {
  mIoU: 2,
  FWIoU: 2,
  BIoU: 2,
  mAcc: 1,
  gAcc: 1,
  BF1: 4,
};

export interface SurrogateOptions {
  metric: TargetMetric;
  /** The control points of every curve of the metric back to back (see `bezier`), e.g. a `VOC_PRESETS` entry. */
  controlPoints: readonly number[];
  /** Labels equal to this (or outside [0, K)) are ignored. Default 255. */
  ignoreIndex?: number;
  /** BIoU: the trimap's radius around ground-truth boundaries; BF1: the match tolerance. Pixels; default 5. */
  tolerance?: number;
  /** BIoU: build the trimap from the boundaries of classes 1.. only; BF1: leave class 0 out of the mean. Default false. */
  dropBackground?: boolean;
  /** Added to denominators, as the official code does. Default 1e-8. */
  eps?: number;
}

export interface AutoSegLossOptions extends SurrogateOptions {
  /** The loss is lossWeight * (1 - surrogate). Default 1. */
  lossWeight?: number;
}

/**
 * The Auto Seg-Loss: `lossWeight * (1 - surrogate)` of softmax(logits), a differentiable stand-in for the
 * target metric. `logits` NHWC [B, H, W, K] (PyTorch's NCHW [B, K, H, W] transposed), `labels` [B, H, W] int32
 * with `ignoreIndex` for void pixels. Returns a scalar; the metric is computed over the whole batch (summing
 * per-class counts over images), as the official AutoSegLoss does.
 */
export function autoSegLoss(logits: tf.Tensor, labels: tf.Tensor, options: AutoSegLossOptions): tf.Scalar {
  const lossWeight = options.lossWeight ?? 1;
  if (!Number.isFinite(lossWeight)) throw argumentError('autoSegLoss', 'lossWeight', 'a finite number', lossWeight);
  checkShapes('autoSegLoss', [
    { name: 'logits', shape: logits.shape, expected: ['B', 'H', 'W', null] },
    { name: 'labels', shape: labels.shape, expected: ['B', 'H', 'W'] },
  ]);
  return tf.tidy(() =>
    tf.mul(tf.sub(1, surrogateMetric(tf.softmax(logits), labels, options, 'autoSegLoss')), lossWeight),
  );
}

/**
 * The surrogate metric itself, from class probabilities `probs` [B, H, W, K] (each pixel summing to 1) and
 * `labels` [B, H, W]. With identity curves and one-hot `probs` it equals the true metric of that prediction.
 */
export function surrogateMetric(
  probs: tf.Tensor,
  labels: tf.Tensor,
  options: SurrogateOptions,
  op = 'surrogateMetric',
): tf.Scalar {
  const metric = assertOneOf(op, 'metric', options.metric, TARGET_METRICS);
  const ignoreIndex = assertInteger(op, 'ignoreIndex', options.ignoreIndex ?? 255);
  const tolerance = assertInteger(op, 'tolerance', options.tolerance ?? 5, 0);
  const eps = assertPositive(op, 'eps', options.eps ?? 1e-8);
  const dropBackground = options.dropBackground ?? false;
  const { K: numClasses } = checkShapes(op, [
    { name: 'probs', shape: probs.shape, expected: ['B', 'H', 'W', 'K'] },
    { name: 'labels', shape: labels.shape, expected: ['B', 'H', 'W'] },
  ]);
  assertDtype(op, 'probs', probs.dtype, ['float32']);
  assertDtype(op, 'labels', labels.dtype, ['int32']);
  const curves = splitCurves(op, metric, options.controlPoints);
  const g = (x: tf.Tensor, curve: number) => bezier(x, curves[curve]);

  return tf.tidy(() => {
    // Labels outside [0, K) are ignored too, as in the official code; their one-hot rows are all zero.
    const isValid = tf.logicalAnd(
      tf.logicalAnd(tf.greaterEqual(labels, tf.scalar(0, 'int32')), tf.less(labels, tf.scalar(numClasses, 'int32'))),
      tf.notEqual(labels, tf.scalar(ignoreIndex, 'int32')),
    );
    const valid = tf.expandDims(tf.cast(isValid, 'float32'), 3);
    const target = tf.mul(
      tf.cast(tf.oneHot(tf.where(isValid, labels, tf.zerosLike(labels)), numClasses), 'float32'),
      valid,
    );
    switch (metric) {
      case 'mIoU':
        return meanOverPresent(softIoU(g, probs, target, valid, eps));
      case 'FWIoU': {
        const { iou } = softIoU(g, probs, target, valid, eps);
        const freq = sumPixels(target);
        return tf.div(tf.sum(tf.mul(iou, freq)), tf.maximum(tf.sum(freq), eps)) as tf.Scalar;
      }
      case 'BIoU': {
        const edges = dilate(boundary(target), tolerance);
        const band = tf.max(
          dropBackground ? tf.slice(edges, [0, 0, 0, 1], [-1, -1, -1, numClasses - 1]) : edges,
          3,
          true,
        );
        return meanOverPresent(softIoU(g, probs, target, tf.mul(valid, band), eps));
      }
      case 'mAcc': {
        const freq = sumPixels(target);
        const acc = tf.div(sumPixels(tf.mul(g(probs, 0), target)), tf.add(freq, eps));
        const present = tf.cast(tf.greater(freq, 0), 'float32');
        return tf.div(tf.sum(tf.mul(acc, present)), tf.maximum(tf.sum(present), 1)) as tf.Scalar;
      }
      case 'gAcc':
        return tf.div(tf.sum(tf.mul(g(probs, 0), target)), tf.add(tf.sum(target), eps)) as tf.Scalar;
      case 'BF1':
        return softBoundaryF1(g, probs, target, tolerance, dropBackground, eps);
    }
  });
}

type Curve = (x: tf.Tensor, curve: number) => tf.Tensor;

/** Per-class soft intersection over union inside `mask` ([B, H, W, 1]): AND = g_I(p) y, OR = g_U(p) + y - g_U(p) y. */
function softIoU(
  g: Curve,
  probs: tf.Tensor,
  target: tf.Tensor,
  mask: tf.Tensor,
  eps: number,
): { iou: tf.Tensor; union: tf.Tensor } {
  const inter = g(probs, 0);
  const uni = g(probs, 1);
  const intersection = sumPixels(tf.mul(tf.mul(inter, target), mask));
  const union = sumPixels(tf.mul(tf.sub(tf.add(uni, target), tf.mul(uni, target)), mask));
  return { iou: tf.div(intersection, tf.add(union, eps)), union };
}

/**
 * The mean over classes whose union is at least half a pixel, which for a one-hot prediction is exactly the
 * metric's set (classes in the ground truth or the prediction). The official code averages over all K
 * classes; the two differ only by the factor (classes counted) / K, and only once a class is absent from
 * both ground truth and prediction (a class absent from the ground truth has AND = 0 and no gradient).
 */
function meanOverPresent({ iou, union }: { iou: tf.Tensor; union: tf.Tensor }): tf.Scalar {
  // tf.where, not tf.cast: the union is on the gradient tape, and Cast's gradient needs tfjs's chained ops.
  const present = tf.where(tf.greaterEqual(union, 0.5), tf.onesLike(union), tf.zerosLike(union));
  return tf.div(tf.sum(tf.mul(iou, present)), tf.maximum(tf.sum(present), 1)) as tf.Scalar;
}

/**
 * Soft boundary F1. The soft erosion of p is -maxpool3x3(-p) (the image border padded with 1, so it makes no
 * boundary); the predicted boundary is the Bezier XOR of p and its erosion, OR(g3(p), g4(e)) - AND(g1(p), g2(e)),
 * which for a one-hot prediction is exactly the class pixels with a differently predicted 3x3 neighbour.
 * As in the official loss and evaluator (and @deformjs/metrics), predicted boundary pixels on void labels
 * count: BF1 is the one surrogate on which predictions over void pixels have an effect.
 */
function softBoundaryF1(
  g: Curve,
  probs: tf.Tensor,
  target: tf.Tensor,
  tolerance: number,
  dropBackground: boolean,
  eps: number,
): tf.Scalar {
  const targetEdge = boundary(target);
  const eroded = erode(probs);
  const and = tf.mul(g(probs, 0), g(eroded, 1));
  const orA = g(probs, 2);
  const orB = g(eroded, 3);
  const or = tf.sub(tf.add(orA, orB), tf.mul(orA, orB));
  const predEdge = tf.sub(or, and);

  const nGt = sumPixels(targetEdge);
  const nPred = tf.add(sumPixels(predEdge), eps);
  const matchPred = sumPixels(tf.mul(predEdge, dilate(targetEdge, tolerance)));
  const matchGt = sumPixels(tf.mul(dilate(predEdge, tolerance), targetEdge));
  const precision = tf.div(matchPred, nPred);
  const recall = tf.div(matchGt, tf.add(nGt, eps));
  const f1 = tf.div(tf.mul(2, tf.mul(precision, recall)), tf.add(tf.add(precision, recall), eps));

  let counted = tf.cast(tf.greater(nGt, 0), 'float32');
  if (dropBackground) counted = tf.mul(counted, tf.concat([tf.zeros([1]), tf.ones([counted.shape[0] - 1])]));
  return tf.div(tf.sum(tf.mul(f1, counted)), tf.maximum(tf.sum(counted), 1)) as tf.Scalar;
}

/** Sums [B, H, W, K] over batch and pixels: [K]. */
function sumPixels(x: tf.Tensor): tf.Tensor {
  return tf.sum(x, [0, 1, 2]);
}

/** 3x3 minimum with out-of-image neighbours ignored (PyTorch's constant pad 1 for values in [0, 1]). */
function erode(x: tf.Tensor): tf.Tensor {
  return tf.neg(windowMax(tf.neg(x), 1));
}

/** Class pixels with a pixel of another label among their in-image 3x3 neighbours (the official compute_edge). */
function boundary(oneHot: tf.Tensor): tf.Tensor {
  return tf.sub(oneHot, erode(oneHot));
}

function dilate(x: tf.Tensor, tolerance: number): tf.Tensor {
  return tolerance > 0 ? windowMax(x, tolerance) : x;
}

function splitCurves(op: string, metric: TargetMetric, controlPoints: readonly number[]): number[][] {
  const count = CURVES_PER_METRIC[metric];
  if (
    !Array.isArray(controlPoints) ||
    controlPoints.length === 0 ||
    controlPoints.length % count !== 0 ||
    (controlPoints.length / count) % 4 !== 2
  ) {
    throw argumentError(
      op,
      'controlPoints',
      `${count} curve${count > 1 ? 's' : ''} of 2(2n - 1) numbers each for ${metric} (e.g. ${count * 6} for two pieces)`,
      controlPoints,
    );
  }
  const size = controlPoints.length / count;
  return Array.from({ length: count }, (_, i) => controlPoints.slice(i * size, (i + 1) * size));
}
