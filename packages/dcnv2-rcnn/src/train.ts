import * as tf from '@tensorflow/tfjs-core';
import { type AdamW, clipGradNorm } from '@deformjs/nn';
import type { FasterRCNN, FasterRcnnTarget } from './faster_rcnn';

export interface FasterRcnnBatch {
  images: tf.Tensor;
  imageSizes: ReadonlyArray<readonly [number, number]>;
  targets: readonly FasterRcnnTarget[];
}

export interface StepResult {
  loss: number;
  components: Record<string, number>;
  gradNorm: number;
}

/** One optimisation step: losses summed (torchvision sums them unweighted), gradients, clipping (0 = none), AdamW. */
export function trainStep(
  model: FasterRCNN,
  optimizer: AdamW,
  batch: FasterRcnnBatch,
  options: { clipMaxNorm?: number } = {},
): StepResult {
  const { clipMaxNorm = 0 } = options;
  model.train();
  let components: Record<string, tf.Scalar> = {};
  const { value, grads } = tf.variableGrads(() => {
    // Kept past variableGrads' scope for reporting.
    components = model.loss(batch.images, batch.imageSizes, batch.targets);
    Object.values(components).forEach((t) => tf.keep(t));
    return tf.addN(Object.values(components)) as tf.Scalar;
  }, model.trainableVariables());
  let gradNorm = NaN;
  let applied = grads;
  if (clipMaxNorm > 0) {
    const clipped = clipGradNorm(grads, clipMaxNorm);
    gradNorm = clipped.totalNorm;
    applied = clipped.grads;
  }
  optimizer.step(applied);
  const loss = value.dataSync()[0];
  const numbers = Object.fromEntries(Object.entries(components).map(([k, v]) => [k, v.dataSync()[0]]));
  tf.dispose([
    value,
    ...Object.values(grads),
    ...(applied === grads ? [] : Object.values(applied)),
    ...Object.values(components),
  ]);
  return { loss, components: numbers, gradNorm };
}
