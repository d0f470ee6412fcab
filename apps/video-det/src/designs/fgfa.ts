import { FasterRCNN } from '@deformjs/dcnv2-rcnn';
import { FGFA } from '@deformjs/video-det';
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

export interface FgfaDesignConfig extends DesignConfig {
  /** Width of the embedding network (512 in the paper). */
  embedChannels: number;
}

/** Flow-Guided Feature Aggregation: every frame aggregates its +-`radius` neighbours warped to it. */
export const fgfa: VideoDesignKind<FgfaDesignConfig> = {
  name: 'fgfa',
  label: 'FGFA',
  // The paper trains with 2 references drawn from [-9, 9] around the frame.
  clip: { references: 2, range: [-9, 9] },
  inference: {
    radius: { default: 9, min: 0, max: 100, integer: true, help: 'frames aggregated on each side (paper: 9)' },
  },
  config: (options) => ({ ...designConfig(options), embedChannels: 16 }),
  validate(config, source) {
    const checked = validateDesignConfig(config, source);
    checkIntegers(`video design config (${source})`, '', config, { embedChannels: [1, 4096] });
    return checked as FgfaDesignConfig;
  },
  numClasses: (config) => config.detector.numClasses,
  build(config) {
    const detector = new FasterRCNN(config.detector);
    const model = new FGFA(detector, {
      flownet: config.flownet,
      embedChannels: config.embedChannels,
      seed: config.seed,
    });
    return {
      model,
      ...detectorRngs(detector),
      loss(clip) {
        const { imageSizes, targets } = anchorTargets(clip);
        return total(model.loss(clip.frames[0], clip.frames.slice(1), imageSizes, targets));
      },
      detectVideo(frames, imageSize, { radius }, timer) {
        const detections = model.detectVideo(frames, imageSize, radius, timer);
        return { detections, keyFrames: frames.map(() => true) };
      },
    };
  },
};
