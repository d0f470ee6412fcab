import * as tf from '@tensorflow/tfjs-core';
import { type AdamW, optimizationStep, type OptimizationStep } from '@deformjs/nn';
import type { FasterRCNN, FasterRcnnTarget } from './faster_rcnn';

export interface FasterRcnnBatch {
  images: tf.Tensor;
  imageSizes: ReadonlyArray<readonly [number, number]>;
  targets: readonly FasterRcnnTarget[];
}

export type StepResult = OptimizationStep;

/** One optimisation step: losses summed (torchvision sums them unweighted), gradients, clipping (0 = none), AdamW. */
export function trainStep(
  model: FasterRCNN,
  optimizer: AdamW,
  batch: FasterRcnnBatch,
  options: { clipMaxNorm?: number } = {},
): StepResult {
  const { clipMaxNorm = 0 } = options;
  model.train();
  return optimizationStep(
    () => {
      const components = model.loss(batch.images, batch.imageSizes, batch.targets);
      return { loss: tf.addN(Object.values(components)) as tf.Scalar, components };
    },
    model.trainableVariables(),
    optimizer,
    clipMaxNorm,
  );
}
