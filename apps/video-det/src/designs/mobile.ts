import { FasterRCNN } from '@deformjs/dcnv2-rcnn';
import { MobileVOD } from '@deformjs/video-det';
import type { VideoDesignKind } from '../design';
import { anchorTargets, designConfig, detectorRngs, total, validateDesignConfig, type DesignConfig } from './common';

/**
 * The mobile design of arXiv 1804.05830: a light feature network (the `mobile` preset: MobileNet v1) on key frames
 * only, where the flow-guided GRU merges the previous key frame's aggregated features warped by Light Flow; every
 * other frame warps the last key frame's aggregated features by Light Flow. `flownet` in the configuration is the
 * Light Flow network (`--flow-width` sets its conv1 channels).
 */
export const mobile: VideoDesignKind<DesignConfig> = {
  name: 'mobile',
  label: 'mobile (Light Flow + GRU)',
  // Two earlier key frames and the anchor: the GRU runs along the keys (oldest first), then the anchor takes the
  // last state by flow. Key frames up to 9 frames before as DFF's; the paper does not give its sampling.
  clip: { references: 2, range: [-9, 0] },
  inference: {
    keyInterval: { default: 10, min: 1, max: 1000, integer: true, help: 'a key frame every k frames (paper: 10)' },
  },
  config(options) {
    const config = designConfig({ ...options, preset: options.preset ?? 'mobile' });
    // Light Flow's depthwise-separable convs take the backbone's norm (the mobile preset: per-image statistics).
    return { ...config, flownet: { ...config.flownet, norm: config.detector.backbone.norm } };
  },
  validate: validateDesignConfig,
  numClasses: (config) => config.detector.numClasses,
  build(config) {
    const detector = new FasterRCNN(config.detector);
    const model = new MobileVOD(detector, { lightFlow: config.flownet, seed: config.seed });
    return {
      model,
      ...detectorRngs(detector),
      loss(clip) {
        const { imageSizes, targets } = anchorTargets(clip);
        const keys = [1, 2].sort((a, b) => clip.offsets[a] - clip.offsets[b]).map((r) => clip.frames[r]);
        return total(model.loss(keys, clip.frames[0], imageSizes, targets));
      },
      detectVideo(frames, imageSize, { keyInterval }, timer) {
        const detections = model.detectVideo(frames, imageSize, keyInterval, timer);
        return { detections, keyFrames: frames.map((_, t) => t % keyInterval === 0) };
      },
    };
  },
};
