import * as tf from '@tensorflow/tfjs-core';
import { argumentError, Rng } from '@deformjs/core';
import {
  FASTER_RCNN_MOBILE_TINY,
  FASTER_RCNN_SMALL,
  FASTER_RCNN_TINY,
  validateFasterRcnnConfig,
  type FasterRCNN,
  type FasterRcnnConfig,
} from '@deformjs/dcnv2-rcnn';
import type { FlowNetSConfig, LightFlowConfig } from '@deformjs/video-det';
import type { ConfigOptions, TrainingClip, VideoDesign } from '../design';

/** `--preset`: Faster R-CNN with ResNet-18 (tiny, small) or MobileNet v1 (mobile) backbones. */
const PRESETS = { tiny: FASTER_RCNN_TINY, small: FASTER_RCNN_SMALL, mobile: FASTER_RCNN_MOBILE_TINY };
export const DETECTOR_PRESETS = Object.keys(PRESETS) as (keyof typeof PRESETS)[];

/** What every design's configuration holds: the per-frame detector, and the flow network when it has one. */
export interface DesignConfig {
  detector: FasterRcnnConfig;
  /** FlowNet-S's, or Light Flow's in the mobile design (`norm` is Light Flow's only). */
  flownet: FlowNetSConfig & Pick<LightFlowConfig, 'norm'>;
  seed: number;
}

export function designConfig({
  preset = 'tiny',
  width,
  norm,
  flowWidth,
  numClasses,
  seed,
}: ConfigOptions): DesignConfig {
  const base = PRESETS[preset as keyof typeof PRESETS];
  const backbone = { ...base.backbone, width: width ?? base.backbone.width, norm: norm ?? base.backbone.norm };
  return {
    detector: { ...base, backbone, numClasses, seed },
    flownet: { width: flowWidth, seed: seed + 1 },
    seed: seed + 2,
  };
}

/** Checks that each named field of `object` is an integer within [min, max] (the fields that size tensors). */
export function checkIntegers(
  op: string,
  path: string,
  object: unknown,
  bounds: Record<string, [number, number]>,
): void {
  const record = (object ?? {}) as Record<string, unknown>;
  for (const [field, [min, max]] of Object.entries(bounds)) {
    const value = record[field];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
      throw argumentError(op, `${path}${field}`, `an integer in [${min}, ${max}]`, value);
  }
}

/**
 * Checks a stored design configuration before anything is built: the detector's tensor-sizing fields within
 * sane bounds (a crafted file cannot make it allocate gigabytes), then the detector's own validation.
 */
export function validateDesignConfig(config: unknown, source: string): DesignConfig {
  const op = `video design config (${source})`;
  if (config === null || typeof config !== 'object' || Array.isArray(config))
    throw argumentError(op, 'config', 'an object', config);
  const c = config as Record<string, Record<string, unknown>>;
  if (c.detector === null || typeof c.detector !== 'object')
    throw argumentError(op, 'detector', 'an object', c.detector);
  checkIntegers(op, 'detector.', c.detector, { fpnChannels: [1, 4096], numClasses: [1, 10000] });
  checkIntegers(op, 'detector.backbone.', c.detector.backbone, { width: [1, 512] });
  checkIntegers(op, 'detector.roi.', c.detector.roi, {
    representationSize: [1, 16384],
    batchSizePerImage: [1, 100000],
  });
  checkIntegers(op, 'flownet.', c.flownet, { width: [1, 256], seed: [0, 0xffffffff] });
  checkIntegers(op, '', c, { seed: [0, 0xffffffff] });
  validateFasterRcnnConfig(c.detector as unknown as FasterRcnnConfig);
  return config as unknown as DesignConfig;
}

/** Sums a design's loss terms into the training loss. */
export function total(components: Record<string, tf.Scalar>): {
  loss: tf.Scalar;
  components: Record<string, tf.Scalar>;
} {
  return { loss: tf.addN(Object.values(components)) as tf.Scalar, components };
}

/** The Faster R-CNN of a design and the generator state a checkpoint must carry (its RoI/anchor sampling). */
export function detectorRngs(detector: FasterRCNN): Pick<VideoDesign, 'rngs' | 'restoreRngs'> {
  return {
    rngs: () => ({ sampling: detector.sampling }),
    restoreRngs: (states) => {
      detector.sampling = new Rng(states.sampling);
    },
  };
}

/** The anchor's size and target, as the detectors' losses take them. */
export function anchorTargets(clip: TrainingClip) {
  return { imageSizes: [clip.imageSize] as [number, number][], targets: [clip.target] };
}
