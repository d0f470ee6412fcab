import { FasterRCNN } from '@deformjs/dcnv2-rcnn';
import { DFF } from '@deformjs/video-det';
import type { VideoDesignKind } from '../design';
import { anchorTargets, designConfig, detectorRngs, total, validateDesignConfig, type DesignConfig } from './common';

/** Deep Feature Flow: key frames every `keyInterval` run the feature network, the others propagate by flow. */
export const dff: VideoDesignKind<DesignConfig> = {
  name: 'dff',
  label: 'DFF',
  // The paper trains on (frame, key frame) pairs with the key frame up to 9 frames before.
  clip: { references: 1, range: [-9, 0] },
  inference: {
    keyInterval: { default: 10, min: 1, max: 1000, integer: true, help: 'a key frame every k frames (paper: 10)' },
  },
  config: designConfig,
  validate: validateDesignConfig,
  numClasses: (config) => config.detector.numClasses,
  build(config) {
    const detector = new FasterRCNN(config.detector);
    const model = new DFF(detector, { flownet: config.flownet, seed: config.seed });
    return {
      model,
      ...detectorRngs(detector),
      loss(clip) {
        const { imageSizes, targets } = anchorTargets(clip);
        return total(model.loss(clip.frames[0], clip.frames[1], imageSizes, targets));
      },
      detectVideo(frames, imageSize, { keyInterval }, timer) {
        const detections = model.detectVideo(frames, imageSize, keyInterval, timer);
        return { detections, keyFrames: frames.map((_, t) => t % keyInterval === 0) };
      },
    };
  },
};
