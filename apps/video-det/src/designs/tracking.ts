import { argumentError } from '@deformjs/core';
import { FasterRCNN } from '@deformjs/dcnv2-rcnn';
import { DEFAULT_TRACKER, TrackletConditionedDetector, type EmbeddingHeadConfig } from '@deformjs/video-det';
import type { TrainingClip, VideoDesignKind } from '../design';
import {
  anchorTargets,
  checkIntegers,
  designConfig,
  detectorRngs,
  total,
  validateDesignConfig,
  type DesignConfig,
} from './common';

export interface TrackingDesignConfig extends DesignConfig {
  embedding: EmbeddingHeadConfig;
}

/** A frame's objects with the track ids the association loss needs (videos without them cannot train it). */
function tracked(clip: TrainingClip, frame: number) {
  const { boxes, trackIds } = clip.objects[frame];
  if (!trackIds) throw new Error('the tracking design trains on videos whose objects carry track ids');
  return { boxes, trackIds };
}

/**
 * Tracklet-conditioned detection (arXiv 1811.11167): the per-frame detector with an embedding head, tracked online
 * by `Tracker` with detection scores conditioned on the tracklets they would join (`condition=0`: plain scores,
 * the same association). Trained on (earlier frame, anchor) pairs: the detector's loss on the anchor plus the
 * association loss of the anchor's objects against the earlier frame's.
 */
export const tracking: VideoDesignKind<TrackingDesignConfig> = {
  name: 'tracking',
  label: 'tracklet-conditioned',
  // The earlier frame 1-3 frames before the anchor holds the tracklets: the gaps the online tracker bridges.
  clip: { references: 1, range: [-3, -1] },
  inference: {
    condition: { default: 1, min: 0, max: 1, integer: true, help: '1: scores conditioned on tracklets, 0: plain' },
    birthScore: { default: DEFAULT_TRACKER.birthScore, min: 0, max: 1, integer: false, help: 'score to start a track' },
    outputScore: { default: DEFAULT_TRACKER.outputScore, min: 0, max: 1, integer: false, help: 'score to report' },
    nullSimilarity: {
      default: DEFAULT_TRACKER.nullSimilarity,
      min: -1,
      max: 1,
      integer: false,
      help: 'cosine a detection needs to join a tracklet',
    },
    maxAge: { default: DEFAULT_TRACKER.maxAge, min: 1, max: 1000, integer: true, help: 'frames a track outlives' },
  },
  config: (options) => ({
    ...designConfig(options),
    embedding: { level: 1, poolSize: 4, hidden: 64, dim: 16, seed: options.seed + 3 },
  }),
  validate(config, source) {
    const checked = validateDesignConfig(config, source) as TrackingDesignConfig;
    const op = `video design config (${source})`;
    if (checked.embedding === null || typeof checked.embedding !== 'object')
      throw argumentError(op, 'embedding', 'an object', checked.embedding);
    checkIntegers(op, 'embedding.', checked.embedding, {
      level: [0, 4],
      poolSize: [1, 32],
      hidden: [1, 4096],
      dim: [1, 4096],
      seed: [0, 0xffffffff],
    });
    return checked;
  },
  numClasses: (config) => config.detector.numClasses,
  build(config) {
    const detector = new FasterRCNN(config.detector);
    const model = new TrackletConditionedDetector(detector, config.embedding);
    return {
      model,
      ...detectorRngs(detector),
      loss(clip) {
        const { imageSizes, targets } = anchorTargets(clip);
        const objects = [tracked(clip, 1), tracked(clip, 0)] as const;
        return total(model.loss(clip.frames[1], clip.frames[0], imageSizes, targets, objects, DEFAULT_TRACKER));
      },
      detectVideo(frames, imageSize, { condition, ...thresholds }, timer) {
        const video = model.detectVideo(frames, imageSize, { ...thresholds, condition: condition === 1 }, timer);
        return { detections: video.detections, keyFrames: frames.map(() => true), trackIds: video.trackIds };
      },
    };
  },
};
