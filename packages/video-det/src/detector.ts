import type * as tf from '@tensorflow/tfjs-core';
import { argumentError, type Module } from '@deformjs/core';

/**
 * A per-frame detector split as DFF splits it: a feature network (`features`, run on key frames) and a task
 * network (`taskLoss` / `detectFromFeatures`, run on every frame's own, propagated or aggregated features).
 * The video designs only warp, scale and weight the feature maps in between, so they wrap any detector with
 * these methods. @deformjs/dcnv2-rcnn's `FasterRCNN` is one (P2..P6 FPN maps of `fpnChannels`): the papers use
 * R-FCN on a single stride-16 map; FPN Faster R-CNN is the detector this repository trains, so each level is
 * warped with the flow resized to its stride.
 */
export interface FrameDetector<Target, Detection> extends Module {
  /** Channels of every feature map. */
  readonly featureChannels: number;
  /** Feature network: maps finest first, and the padded input size their strides refer to. */
  features(images: tf.Tensor): { features: tf.Tensor[]; paddedSize: [number, number] };
  /** Task network training losses by name (call inside tf.variableGrads); the features are not disposed. */
  taskLoss(
    features: readonly tf.Tensor[],
    paddedSize: [number, number],
    imageSizes: ReadonlyArray<readonly [number, number]>,
    targets: readonly Target[],
  ): Record<string, tf.Scalar>;
  /** Task network inference; the features are not disposed. */
  detectFromFeatures(
    features: readonly tf.Tensor[],
    paddedSize: [number, number],
    imageSizes: ReadonlyArray<readonly [number, number]>,
  ): Detection[];
}

/** The check every design's `detectVideo` makes of its clip: a non-empty array of frames. */
export function checkFrames(op: string, frames: readonly tf.Tensor[]): void {
  if (!Array.isArray(frames) || frames.length === 0)
    throw argumentError(op, 'frames', 'a non-empty array of [1, H, W, 3] frames', frames);
}
