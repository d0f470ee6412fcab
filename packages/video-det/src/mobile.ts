import * as tf from '@tensorflow/tfjs-core';
import { argumentError, assertInteger, Conv2d, Module, Rng } from '@deformjs/core';
import { DepthwiseConv2d } from '@deformjs/nn';
import { checkFrames, type FrameDetector } from './detector';
import { LightFlow, type LightFlowConfig } from './light_flow';
import { warpPyramid } from './flow_levels';
import { untimed, type Timer } from './timing';

/** A depthwise 3x3 then a pointwise 1x1 conv, no norm or activation: the GRU's W* and U* convolutions. */
class SeparableConv extends Module {
  readonly depthwise: DepthwiseConv2d;
  readonly pointwise: Conv2d;
  constructor(rng: Rng, inChannels: number, outChannels: number) {
    super();
    this.depthwise = this.addModule('depthwise', new DepthwiseConv2d(rng, inChannels, 3, { padding: 1, bias: false }));
    this.pointwise = this.addModule('pointwise', new Conv2d(rng, inChannels, outChannels, 1));
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.pointwise.forward(this.depthwise.forward(x)));
  }
}

/**
 * The flow-guided GRU of arXiv 1804.05830 on one feature map, with the previous key frame's state already warped
 * to the current key frame:
 *   z = sigm(Wz * F + Uz * warp(H)), r = sigm(Wr * F + Ur * warp(H)),
 *   H' = (1 - z) . warp(H) + z . ReLU(Wh * F + Uh * (r . warp(H))).
 * W * F + U * H is one conv of the concatenation [F, H]; the convs are depthwise-separable 3x3 as the rest of
 * the mobile design. The update gate's bias starts at -2 (z about 0.12) so the first steps lean on the aggregated
 * state only a little, as the candidate starts untrained: our choice, the paper does not say.
 */
export class FlowGuidedGru extends Module {
  readonly gates: SeparableConv;
  readonly candidate: SeparableConv;

  constructor(
    rng: Rng,
    readonly channels: number,
  ) {
    super();
    assertInteger('FlowGuidedGru', 'channels', channels, 1);
    this.gates = this.addModule('gates', new SeparableConv(rng, 2 * channels, 2 * channels));
    this.candidate = this.addModule('candidate', new SeparableConv(rng, 2 * channels, channels));
    const bias = this.gates.pointwise.bias!;
    bias.assign(tf.concat([tf.fill([channels], -2), tf.zeros([channels])]));
  }

  /** features F [N, h, w, C] of the key frame and the warped state warp(H) of the same shape -> H'. */
  forward(features: tf.Tensor, warpedState: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const [z, r] = tf.split(tf.sigmoid(this.gates.forward(tf.concat([features, warpedState], 3))), 2, 3);
      const candidate = tf.relu(this.candidate.forward(tf.concat([features, tf.mul(r, warpedState)], 3)));
      return tf.add(tf.mul(tf.sub(1, z), warpedState), tf.mul(z, candidate));
    });
  }
}

export interface MobileVodConfig {
  lightFlow: LightFlowConfig;
  seed: number;
}

/** The aggregated state at a key frame: the GRU's output per pyramid level, and the key frame it belongs to. */
export interface KeyState {
  frame: tf.Tensor;
  features: tf.Tensor[];
  paddedSize: [number, number];
}

/**
 * The mobile video detector of arXiv 1804.05830 around any `FrameDetector` (give it a light feature network, e.g.
 * @deformjs/dcnv2-rcnn with the MobileNet backbone): the feature network runs on key frames only; there the
 * previous key frame's aggregated features are warped by Light Flow (key -> previous key) and merged with the new
 * ones by the flow-guided GRU (one GRU shared by all pyramid levels, as FPN heads are). Every other frame takes the
 * last key frame's aggregated features warped by Light Flow (DFF's propagation, without DFF's scale field, as the
 * paper). The task network runs on every frame.
 */
export class MobileVOD<Target, Detection> extends Module {
  readonly lightFlow: LightFlow;
  readonly gru: FlowGuidedGru;

  constructor(
    readonly detector: FrameDetector<Target, Detection>,
    config: MobileVodConfig,
  ) {
    super();
    this.addModule('detector', detector);
    this.lightFlow = this.addModule('flownet', new LightFlow(config.lightFlow));
    this.gru = this.addModule('gru', new FlowGuidedGru(new Rng(config.seed), detector.featureChannels));
  }

  /** Features of `target` warped from `source`'s: per level, warp(features, Light Flow target -> source). */
  propagate(source: KeyState, target: tf.Tensor, timer: Timer = untimed): tf.Tensor[] {
    const flow = timer('flow', () => {
      const { flow, features, predictions } = this.lightFlow.forward(target, source.frame);
      tf.dispose([features, ...predictions]);
      return flow;
    });
    const out = timer('warp', () => warpPyramid(source.features, flow, source.paddedSize));
    flow.dispose();
    return out;
  }

  /** The state at key frame `frame`: its own features, merged by the GRU with `previous` warped to it (if any). */
  keyFrame(frame: tf.Tensor, previous: KeyState | null, timer: Timer = untimed): KeyState {
    const { features, paddedSize } = timer('features', () => this.detector.features(frame));
    if (!previous) return { frame, features, paddedSize };
    const warped = this.propagate(previous, frame, timer);
    const merged = timer('aggregate', () => features.map((f, level) => this.gru.forward(f, warped[level])));
    tf.dispose([...features, ...warped]);
    return { frame, features: merged, paddedSize };
  }

  /**
   * Training losses of `current` after aggregating over `keys` (consecutive key frames, oldest first; `current`
   * is at or after the last one): the GRU runs along the keys and the last state is propagated to `current`.
   * Call inside tf.variableGrads; every network is trained end to end through the warps.
   */
  loss(
    keys: readonly tf.Tensor[],
    current: tf.Tensor,
    imageSizes: ReadonlyArray<readonly [number, number]>,
    targets: readonly Target[],
  ): Record<string, tf.Scalar> {
    if (!Array.isArray(keys) || keys.length === 0)
      throw argumentError('MobileVOD.loss', 'keys', 'a non-empty array of key frames', keys);
    let state: KeyState | null = null;
    for (const key of keys) {
      const next = this.keyFrame(key, state);
      if (state) tf.dispose(state.features);
      state = next;
    }
    const last = state!;
    const features = current === last.frame ? last.features : this.propagate(last, current);
    const losses = this.detector.taskLoss(features, last.paddedSize, imageSizes, targets);
    tf.dispose(features === last.features ? last.features : [...features, ...last.features]);
    return losses;
  }

  /**
   * Detections for every frame of a clip (frames [1, H, W, 3] in order): frames 0, k, 2k, ... are key frames
   * (feature network + GRU), the others propagate from the last key frame. `timer` measures the components.
   */
  detectVideo(
    frames: readonly tf.Tensor[],
    imageSize: readonly [number, number],
    keyInterval: number,
    timer: Timer = untimed,
  ): Detection[] {
    assertInteger('MobileVOD.detectVideo', 'keyInterval', keyInterval, 1);
    checkFrames('MobileVOD.detectVideo', frames);
    let state: KeyState | null = null;
    const detections: Detection[] = [];
    frames.forEach((frame, t) => {
      if (t % keyInterval === 0) {
        const next = this.keyFrame(frame, state, timer);
        if (state) tf.dispose(state.features);
        state = next;
        detections.push(
          ...timer('task', () => this.detector.detectFromFeatures(next.features, next.paddedSize, [imageSize])),
        );
      } else {
        const propagated = this.propagate(state!, frame, timer);
        const { paddedSize } = state!;
        detections.push(...timer('task', () => this.detector.detectFromFeatures(propagated, paddedSize, [imageSize])));
        tf.dispose(propagated);
      }
    });
    if (state) tf.dispose((state as KeyState).features);
    return detections;
  }
}
