import * as tf from '@tensorflow/tfjs-core';
import { assertInteger, Conv2d, Module, Rng } from '@deformjs/core';
import { checkFrames, type FrameDetector } from './detector';
import { FlowNetS, type FlowNetSConfig } from './flownet';
import { warpPyramid } from './flow_levels';
import { untimed, type Timer } from './timing';

export interface DffConfig {
  flownet: FlowNetSConfig;
  seed: number;
}

/**
 * Deep Feature Flow (Zhu et al., CVPR 2017): the feature network runs on key frames only; every other frame's
 * features are the key frame's, warped by the FlowNet-S flow from that frame to the key frame and multiplied by
 * the scale field (a 1x1 conv on the flow decoder's last features, weight 0 and bias 1 at the start, so training
 * starts from plain warping). The task network runs on every frame. Training is end to end on (frame, key frame)
 * pairs: the loss of the frame's detections flows back through the warp into the flow network and the feature
 * network.
 */
export class DFF<Target, Detection> extends Module {
  readonly flownet: FlowNetS;
  readonly scale: Conv2d;

  constructor(
    readonly detector: FrameDetector<Target, Detection>,
    config: DffConfig,
  ) {
    super();
    this.addModule('detector', detector);
    this.flownet = this.addModule('flownet', new FlowNetS(config.flownet));
    this.scale = this.addModule(
      'scale',
      new Conv2d(new Rng(config.seed), this.flownet.featureChannels, detector.featureChannels, 1, { init: 'zeros' }),
    );
    this.scale.bias!.assign(tf.onesLike(this.scale.bias!));
  }

  /** The key frame's features carried to `current`: warp(F_key, flow current -> key) x scale, per level. */
  propagate(
    keyFeatures: readonly tf.Tensor[],
    inputSize: readonly [number, number],
    current: tf.Tensor,
    key: tf.Tensor,
    timer: Timer = untimed,
  ): tf.Tensor[] {
    const { flow, scale } = timer('flow', () => {
      const { flow, features, predictions } = this.flownet.forward(current, key);
      const scale = this.scale.forward(features);
      tf.dispose([features, ...predictions]);
      return { flow, scale };
    });
    const out = timer('warp', () => warpPyramid(keyFeatures, flow, inputSize, scale));
    tf.dispose([flow, scale]);
    return out;
  }

  /** Training losses of `current` with features propagated from `key` (call inside tf.variableGrads). */
  loss(
    current: tf.Tensor,
    key: tf.Tensor,
    imageSizes: ReadonlyArray<readonly [number, number]>,
    targets: readonly Target[],
  ): Record<string, tf.Scalar> {
    const { features, paddedSize } = this.detector.features(key);
    const propagated = this.propagate(features, paddedSize, current, key);
    const losses = this.detector.taskLoss(propagated, paddedSize, imageSizes, targets);
    tf.dispose([...features, ...propagated]);
    return losses;
  }

  /**
   * Detections for every frame of a clip (frames [1, H, W, 3] in order): frames 0, k, 2k, ... are key frames
   * that run the feature network; the others propagate from the last key frame. `timer` measures the components.
   */
  detectVideo(
    frames: readonly tf.Tensor[],
    imageSize: readonly [number, number],
    keyInterval: number,
    timer: Timer = untimed,
  ): Detection[] {
    assertInteger('DFF.detectVideo', 'keyInterval', keyInterval, 1);
    checkFrames('DFF.detectVideo', frames);
    let key: { frame: tf.Tensor; features: tf.Tensor[]; paddedSize: [number, number] } | null = null;
    const detections: Detection[] = [];
    frames.forEach((frame, t) => {
      if (t % keyInterval === 0) {
        if (key) tf.dispose(key.features);
        key = { frame, ...timer('features', () => this.detector.features(frame)) };
        const { features, paddedSize } = key;
        detections.push(...timer('task', () => this.detector.detectFromFeatures(features, paddedSize, [imageSize])));
      } else {
        const { features, paddedSize } = key!;
        const propagated = this.propagate(features, paddedSize, frame, key!.frame, timer);
        detections.push(...timer('task', () => this.detector.detectFromFeatures(propagated, paddedSize, [imageSize])));
        tf.dispose(propagated);
      }
    });
    if (key) tf.dispose((key as { features: tf.Tensor[] }).features);
    return detections;
  }
}
