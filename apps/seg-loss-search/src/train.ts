import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@deformjs/core';
import { autoSegLoss, type TargetMetric } from '@deformjs/auto-seg-loss';
import { SegmentationEvaluator, type SegmentationResult } from '@deformjs/metrics';
import { AdamW, cosineSchedule } from '@deformjs/nn';
import { IGNORE_INDEX, trainBatch, type SegmentationImage } from './data';
import { TinySegmenter } from './model';

/** loss = ce * cross-entropy + asl.weight * Auto Seg-Loss(asl.metric, asl.controlPoints). */
export interface LossSpec {
  ce: number;
  asl?: { metric: TargetMetric; controlPoints: readonly number[]; weight: number };
}

export interface TrainOptions {
  steps: number;
  batchSize: number;
  crop: number;
  lr: number;
  seed: number;
  /** BIoU trimap radius and BF1 tolerance, for the loss and the evaluation alike. */
  tolerance: number;
  width?: number;
}

/** Pixel-wise cross-entropy of NHWC logits, averaged over pixels whose label is not ignored (PyTorch's ignore_index). */
export function crossEntropy(logits: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const numClasses = logits.shape[logits.rank - 1];
    const valid = tf.logicalAnd(
      tf.greaterEqual(labels, tf.scalar(0, 'int32')),
      tf.less(labels, tf.scalar(numClasses, 'int32')),
    );
    const target = tf.cast(tf.oneHot(tf.where(valid, labels, tf.zerosLike(labels)), numClasses), 'float32');
    const mask = tf.cast(valid, 'float32');
    const nll = tf.neg(tf.sum(tf.mul(tf.logSoftmax(logits), target), -1));
    return tf.div(tf.sum(tf.mul(nll, mask)), tf.maximum(tf.sum(mask), 1)) as tf.Scalar;
  });
}

export function segmentationLoss(spec: LossSpec, logits: tf.Tensor, labels: tf.Tensor, tolerance: number): tf.Scalar {
  return tf.tidy(() => {
    let loss: tf.Tensor = tf.scalar(0);
    if (spec.ce !== 0) loss = tf.add(loss, tf.mul(crossEntropy(logits, labels), spec.ce));
    if (spec.asl) {
      const { metric, controlPoints, weight } = spec.asl;
      loss = tf.add(
        loss,
        autoSegLoss(logits, labels, {
          metric,
          controlPoints,
          tolerance,
          ignoreIndex: IGNORE_INDEX,
          lossWeight: weight,
        }),
      );
    }
    return loss as tf.Scalar;
  });
}

/**
 * Trains a TinySegmenter from scratch with `loss`: AdamW (weight decay 1e-4) with a cosine learning-rate
 * decay, seeded initialisation and batches. `onStep` sees every step's loss (read back every 10 steps).
 */
export async function trainSegmenter(
  data: readonly SegmentationImage[],
  numClasses: number,
  loss: LossSpec,
  options: TrainOptions,
  onStep: (step: number, loss: number) => void = () => {},
): Promise<TinySegmenter> {
  const rng = new Rng(options.seed);
  const model = new TinySegmenter(rng.fork(), numClasses, options.width);
  const batches = rng.fork();
  const optimizer = new AdamW(model.trainableVariables(), { lr: options.lr, weightDecay: 1e-4 });
  const schedule = cosineSchedule(options.lr, options.steps);
  model.train();
  for (let step = 0; step < options.steps; step++) {
    optimizer.lr = schedule(step);
    const { images, labels } = trainBatch(data, options.batchSize, options.crop, batches);
    const { value, grads } = tf.variableGrads(
      () => segmentationLoss(loss, model.forward(images), labels, options.tolerance),
      model.trainableVariables(),
    );
    optimizer.step(grads);
    if (step % 10 === 9 || step === options.steps - 1) onStep(step + 1, (await value.data())[0]);
    tf.dispose([images, labels, value, grads]);
  }
  optimizer.dispose();
  return model;
}

/** Every metric of @deformjs/metrics over whole images (one at a time, any size). */
export function evaluateSegmenter(
  model: TinySegmenter,
  data: readonly SegmentationImage[],
  numClasses: number,
  tolerance: number,
): SegmentationResult {
  const evaluator = new SegmentationEvaluator({
    numClasses,
    ignoreLabel: IGNORE_INDEX,
    boundaryRadius: tolerance,
    boundaryTolerance: tolerance,
  });
  model.eval();
  for (const item of data) {
    const predicted = tf.tidy(() =>
      tf.argMax(model.forward(tf.tensor4d(item.image, [1, item.height, item.width, 3])), 3),
    );
    evaluator.update(predicted.dataSync() as Int32Array, item.labels, item.height, item.width);
    predicted.dispose();
  }
  model.train();
  return evaluator.result();
}

/** Every metric the comparison reports, under the names of its table (and of the target metrics). */
export function reportedMetrics(result: SegmentationResult) {
  return {
    mIoU: result.mIoU,
    FWIoU: result.fwIoU,
    mAcc: result.mAcc,
    gAcc: result.gAcc,
    BIoU: result.bIoU,
    BF1: result.bF1,
  };
}

/** The result field of each target metric. */
export function metricValue(result: SegmentationResult, metric: TargetMetric): number {
  return reportedMetrics(result)[metric];
}
