import * as tf from '@tensorflow/tfjs-core';
import { argumentError, assertInteger, assertOneOf, Conv2d, Module, Rng } from '@deformjs/core';
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

/** What the candidate `Wh * F + Uh * (r . warp(H))` goes through. */
export type GruCandidateActivation = 'relu' | 'none';

/** The logit of the update gate at initialisation: z = sigm(2) = 0.88 of the current frame's features. */
const UPDATE_GATE_INIT = 2;

/**
 * The flow-guided GRU of arXiv 1804.05830 on one feature map, with the previous key frame's state already warped
 * to the current key frame:
 *   z = sigm(Wz * F + Uz * warp(H)), r = sigm(Wr * F + Ur * warp(H)),
 *   H' = (1 - z) . warp(H) + z . ReLU(Wh * F + Uh * (r . warp(H))).
 * W * F + U * H is one conv of the concatenation [F, H]; the convs are depthwise-separable 3x3 as the rest of
 * the mobile design. The paper's F are MobileNet's outputs, after a ReLU; `candidateActivation: 'none'` drops
 * the candidate's ReLU for signed features (FPN levels), which it would cut in half.
 *
 * It starts as the current frame's features, so that a detector trained per frame scores at key frames as it
 * did alone and the aggregation is learned from there (our choice; the paper does not give its init): the
 * gates' pointwise weights are zero, the update gate's bias 2 (z = 0.88) and the reset gate's 0 (r = 0.5), and
 * the candidate is the identity on F (depthwise centre taps 1, pointwise [I; 0]), so
 * H' = 0.88 F + 0.12 warp(H) (with the ReLU: 0.88 ReLU(F) + 0.12 warp(H)). With the update gate's bias at -2 and
 * random convs, a fresh mobile design at key interval 1 scored 0.005 mAP against its per-frame detector's 0.056.
 */
export class FlowGuidedGru extends Module {
  readonly gates: SeparableConv;
  readonly candidate: SeparableConv;

  constructor(
    rng: Rng,
    readonly channels: number,
    readonly candidateActivation: GruCandidateActivation = 'relu',
  ) {
    super();
    assertInteger('FlowGuidedGru', 'channels', channels, 1);
    assertOneOf('FlowGuidedGru', 'candidateActivation', candidateActivation, ['relu', 'none'] as const);
    this.gates = this.addModule('gates', new SeparableConv(rng, 2 * channels, 2 * channels));
    this.candidate = this.addModule('candidate', new SeparableConv(rng, 2 * channels, channels));
    tf.tidy(() => {
      this.gates.pointwise.weight.assign(tf.zerosLike(this.gates.pointwise.weight));
      this.gates.pointwise.bias!.assign(tf.concat([tf.fill([channels], UPDATE_GATE_INIT), tf.zeros([channels])]));
      const centreTap = tf.buffer<tf.Rank.R4>([3, 3, 2 * channels, 1]);
      for (let c = 0; c < 2 * channels; c++) centreTap.set(1, 1, 1, c, 0);
      this.candidate.depthwise.weight.assign(centreTap.toTensor());
      this.candidate.pointwise.weight.assign(
        tf.reshape(tf.concat([tf.eye(channels), tf.zeros([channels, channels])], 0), [1, 1, 2 * channels, channels]),
      );
      this.candidate.pointwise.bias!.assign(tf.zeros([channels]));
    });
  }

  /** features F [N, h, w, C] of the key frame and the warped state warp(H) of the same shape -> H'. */
  forward(features: tf.Tensor, warpedState: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const [z, r] = tf.split(tf.sigmoid(this.gates.forward(tf.concat([features, warpedState], 3))), 2, 3);
      const linear = this.candidate.forward(tf.concat([features, tf.mul(r, warpedState)], 3));
      const candidate = this.candidateActivation === 'relu' ? tf.relu(linear) : linear;
      return tf.add(tf.mul(tf.sub(1, z), warpedState), tf.mul(z, candidate));
    });
  }
}

export interface MobileVodConfig {
  lightFlow: LightFlowConfig;
  seed: number;
  /**
   * The GRU candidate's activation; default 'none', since a `FrameDetector`'s features are FPN levels (signed).
   * 'relu' is the paper's, for non-negative features.
   */
  candidateActivation?: GruCandidateActivation;
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
    this.gru = this.addModule(
      'gru',
      new FlowGuidedGru(new Rng(config.seed), detector.featureChannels, config.candidateActivation ?? 'none'),
    );
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
