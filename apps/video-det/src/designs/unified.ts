import { argumentError } from '@deformjs/core';
import { FasterRCNN } from '@deformjs/dcnv2-rcnn';
import { UnifiedVOD } from '@deformjs/video-det';
import type { VideoDesignKind } from '../design';
import {
  anchorTargets,
  checkIntegers,
  designConfig,
  detectorRngs,
  total,
  validateDesignConfig,
  type DesignConfig,
} from './common';

export interface UnifiedDesignConfig extends DesignConfig {
  /** Width of the key-frame aggregation's embedding network. */
  embedChannels: number;
  /** The quality threshold of the partial update while training (inference takes its own `tau`). */
  trainTau: number;
}

const TAU = 0.8;

/**
 * The unified design of arXiv 1711.11577: sparse recursive aggregation on key frames, partial updating where the
 * predicted quality Q <= tau, key frames at a fixed interval or (adaptive=1) when more than gamma of the positions
 * have Q <= tau.
 */
export const unified: VideoDesignKind<UnifiedDesignConfig> = {
  name: 'unified',
  label: 'unified',
  // Trained on (frame, earlier key frame) pairs, as DFF.
  clip: { references: 1, range: [-9, -1] },
  inference: {
    keyInterval: { default: 10, min: 1, max: 1000, integer: true, help: 'fixed key interval' },
    adaptive: { default: 0, min: 0, max: 1, integer: true, help: '1: key frames chosen by the quality map' },
    tau: { default: TAU, min: -1e9, max: 1e9, integer: false, help: 'recompute where Q <= tau' },
    gamma: { default: 0.2, min: 0, max: 1, integer: false, help: 'adaptive key when a fraction > gamma has Q <= tau' },
  },
  config: (options) => ({ ...designConfig(options), embedChannels: 16, trainTau: TAU }),
  validate(config, source) {
    const checked = validateDesignConfig(config, source) as UnifiedDesignConfig;
    checkIntegers(`video design config (${source})`, '', config, { embedChannels: [1, 4096] });
    if (!Number.isFinite(checked.trainTau))
      throw argumentError(`video design config (${source})`, 'trainTau', 'a finite number', checked.trainTau);
    return checked;
  },
  numClasses: (config) => config.detector.numClasses,
  build(config) {
    const detector = new FasterRCNN(config.detector);
    const model = new UnifiedVOD(detector, {
      flownet: config.flownet,
      embedChannels: config.embedChannels,
      seed: config.seed,
    });
    return {
      model,
      ...detectorRngs(detector),
      loss(clip) {
        const { imageSizes, targets } = anchorTargets(clip);
        return total(model.loss(clip.frames[0], clip.frames[1], imageSizes, targets, config.trainTau));
      },
      detectVideo(frames, imageSize, { keyInterval, adaptive, tau, gamma }, timer) {
        const video = model.detectVideo(
          frames,
          imageSize,
          { keyInterval, adaptive: adaptive === 1, tau, gamma },
          timer,
        );
        return { detections: video.detections, keyFrames: video.keyFrames, updated: video.updated };
      },
    };
  },
};
