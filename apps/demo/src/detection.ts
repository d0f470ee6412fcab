// Deformable DETR on one image with per-stage timings, the same code in Node and in the page: the model comes from
// a checkpoint in apps/detect's format (the trainer's own loader, `detectorFromCheckpoint`), or from the built-in
// seeded one, and runs through the trainer's own `detectImage`.
import * as tf from '@tensorflow/tfjs-core';
import { SHAPE_CLASSES, type RgbImage, type TransformSpec } from '@deformjs/datasets/browser';
import type { DeformableDETR } from '@deformjs/deformable-detr';
import { encodeCheckpoint } from '@deformjs/weights';
import {
  deformableDetr,
  detectImage,
  detectorFromCheckpoint,
  type CheckpointConfig,
  type Detections,
  type Detector,
} from '@deformjs/detect-app/browser';

export const STAGES = ['backbone', 'encoder', 'decoder', 'post-process'] as const;
export type Stage = (typeof STAGES)[number];
export type StageTimes = Record<Stage | 'total', number>;

/** Each stage's median over several calls (the upper middle one of an even count). */
export function medianTimes(runs: readonly StageTimes[]): StageTimes {
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  return Object.fromEntries(
    [...STAGES, 'total'].map((stage) => [stage, median(runs.map((t) => t[stage as keyof StageTimes]))]),
  ) as StageTimes;
}

/** How apps/detect prepares images for a model trained on the 128-pixel shapes world (its default `--size`). */
const SHAPES_DETECT_TRANSFORMS: TransformSpec[] = [{ type: 'resize', size: 128, maxSize: 128 }, { type: 'normalize' }];

/**
 * The built-in model as a checkpoint in the trainer's format: `pnpm start`'s configuration (small, two-stage, the
 * shapes world's classes) at its seeded initialisation, untrained, so its boxes mean nothing: it is there to show
 * the page working and to be compared with Node. Load a trained checkpoint for real detections.
 */
export function seededCheckpoint(seed = 0): Uint8Array {
  const classes = [...SHAPE_CLASSES];
  const config = deformableDetr.config({ preset: 'small', variant: 'two-stage', numClasses: classes.length, seed });
  const { model } = deformableDetr.build(config);
  const saved: CheckpointConfig = {
    detector: deformableDetr.name,
    config,
    classes,
    categoryIds: classes.map((_, i) => i + 1),
    detectTransforms: SHAPES_DETECT_TRANSFORMS,
  };
  try {
    return encodeCheckpoint({ model, step: 0, epoch: 0, config: saved });
  } finally {
    model.dispose();
  }
}

export interface DemoDetector {
  detector: Detector;
  saved: CheckpointConfig;
  /** Detections in the image's pixels, and the milliseconds of each stage. */
  detect(image: RgbImage): { detections: Detections; times: StageTimes };
  dispose(): void;
}

/**
 * A Deformable DETR from checkpoint bytes (anything else is refused with the trainer's message naming what the file
 * holds), ready to time. Stage ends are marked as PyTorch's forward hooks would: this instance's backbone, encoder
 * and decoder `forward` are wrapped to wait for their output (webgl runs asynchronously) and note the time; they
 * compute exactly what they did. Backbone: the ResNet. Encoder: input projections, position embeddings and the
 * encoder layers. Decoder: two-stage proposal selection and the decoder layers. Post-process: the class and box
 * heads, top-k and reading the boxes back.
 */
export function loadDemoDetector(bytes: Uint8Array, source: string, now = () => performance.now()): DemoDetector {
  const { detector, saved } = detectorFromCheckpoint(bytes, source, { detector: deformableDetr.name });
  const model = detector.model as DeformableDETR;
  model.eval();
  const marks: Partial<Record<Stage, number>> = {};
  const markEnd = (stage: Stage, module: { forward: (...args: never[]) => unknown }) => {
    const forward = module.forward.bind(module);
    module.forward = (...args: never[]) => {
      const out = forward(...args);
      const tensors = tf.tensor_util.getTensorsInContainer(out as tf.TensorContainer);
      tensors[tensors.length - 1].dataSync();
      marks[stage] = now();
      return out;
    };
  };
  markEnd('backbone', model.backbone);
  markEnd('encoder', model.transformer.encoder);
  markEnd('decoder', model.transformer.decoder);
  return {
    detector,
    saved,
    detect(image) {
      const start = now();
      const detections = detectImage(detector, saved, image);
      const end = now();
      const { backbone = NaN, encoder = NaN, decoder = NaN } = marks;
      const times: StageTimes = {
        backbone: backbone - start,
        encoder: encoder - backbone,
        decoder: decoder - encoder,
        'post-process': end - decoder,
        total: end - start,
      };
      return { detections, times };
    },
    dispose: () => model.dispose(),
  };
}
