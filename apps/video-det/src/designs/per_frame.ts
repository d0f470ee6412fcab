import { FasterRCNN } from '@deformjs/dcnv2-rcnn';
import { PerFrame } from '@deformjs/video-det';
import type { VideoDesignKind } from '../design';
import { anchorTargets, designConfig, detectorRngs, total, validateDesignConfig, type DesignConfig } from './common';

/** The still-image detector on every frame: the baseline row of the papers' tables. */
export const perFrame: VideoDesignKind<DesignConfig> = {
  name: 'per-frame',
  label: 'per-frame',
  clip: { references: 0, range: [0, 0] },
  inference: {},
  config: designConfig,
  validate: validateDesignConfig,
  numClasses: (config) => config.detector.numClasses,
  build(config) {
    const detector = new FasterRCNN(config.detector);
    const model = new PerFrame(detector);
    return {
      model,
      ...detectorRngs(detector),
      loss(clip) {
        const { imageSizes, targets } = anchorTargets(clip);
        return total(model.loss(clip.frames[0], imageSizes, targets));
      },
      detectVideo(frames, imageSize, _inference, timer) {
        const detections = model.detectVideo(frames, imageSize, timer);
        return { detections, keyFrames: frames.map(() => true) };
      },
    };
  },
};
