import type * as tf from '@tensorflow/tfjs-core';
import { Module } from '@deformjs/core';
import { checkFrames, type FrameDetector } from './detector';
import { untimed, type Timer } from './timing';

/**
 * The still-image baseline of the video papers: the feature network and the task network on every frame, no
 * temporal information. It has the video designs' interface (`loss`, `detectVideo`) and keeps the detector under
 * the same name (`detector.*`), so its checkpoints initialise the detector of DFF, FGFA and the unified design.
 */
export class PerFrame<Target, Detection> extends Module {
  constructor(readonly detector: FrameDetector<Target, Detection>) {
    super();
    this.addModule('detector', detector);
  }

  /** Training losses of `current` alone (call inside tf.variableGrads). */
  loss(
    current: tf.Tensor,
    imageSizes: ReadonlyArray<readonly [number, number]>,
    targets: readonly Target[],
  ): Record<string, tf.Scalar> {
    const { features, paddedSize } = this.detector.features(current);
    const losses = this.detector.taskLoss(features, paddedSize, imageSizes, targets);
    for (const f of features) f.dispose();
    return losses;
  }

  /** Detections for every frame of a clip (frames [1, H, W, 3]); `timer` measures the two networks. */
  detectVideo(frames: readonly tf.Tensor[], imageSize: readonly [number, number], timer: Timer = untimed): Detection[] {
    checkFrames('PerFrame.detectVideo', frames);
    return frames.map((frame) => {
      const { features, paddedSize } = timer('features', () => this.detector.features(frame));
      const [detections] = timer('task', () => this.detector.detectFromFeatures(features, paddedSize, [imageSize]));
      for (const f of features) f.dispose();
      return detections;
    });
  }
}
