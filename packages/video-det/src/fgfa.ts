import * as tf from '@tensorflow/tfjs-core';
import { assertInteger, Module, Rng } from '@deformjs/core';
import { aggregateByEmbedding, Embedding } from './aggregation';
import { checkFrames, type FrameDetector } from './detector';
import { FlowNetS, type FlowNetSConfig } from './flownet';
import { warpPyramid } from './flow_levels';
import { untimed, type Timer } from './timing';

export interface FgfaConfig {
  flownet: FlowNetSConfig;
  /** Width of the embedding network: 1x1 to `embedChannels`, 3x3, 1x1 to 4 x `embedChannels` (512, 512, 2048). */
  embedChannels: number;
  seed: number;
}

/**
 * Flow-Guided Feature Aggregation (Zhu et al., ICCV 2017): every frame's features are the weighted sum of its own
 * and its neighbours' features warped to it by FlowNet-S flow; the weights are, per position and per pyramid
 * level, a softmax over frames of the cosine similarity between the L2-normalised embeddings of the frame's own
 * features and of each warped neighbour (the frame itself included, with weight from similarity 1). Trained end
 * to end with neighbours sampled around each frame; at test time +-K neighbours.
 */
export class FGFA<Target, Detection> extends Module {
  readonly flownet: FlowNetS;
  readonly embed: Embedding;

  constructor(
    readonly detector: FrameDetector<Target, Detection>,
    config: FgfaConfig,
  ) {
    super();
    assertInteger('FGFA', 'config.embedChannels', config.embedChannels, 1);
    this.addModule('detector', detector);
    this.flownet = this.addModule('flownet', new FlowNetS(config.flownet));
    this.embed = this.addModule(
      'embed',
      new Embedding(new Rng(config.seed), detector.featureChannels, config.embedChannels),
    );
  }

  /**
   * Aggregates per level: own features `current` (maps finest first) and the neighbours' maps already warped to
   * the current frame. Returns the aggregated maps and the weights ([N, h, w, frames] per level, own first).
   */
  aggregate(
    current: readonly tf.Tensor[],
    warped: readonly (readonly tf.Tensor[])[],
  ): { features: tf.Tensor[]; weights: tf.Tensor[] } {
    return aggregateByEmbedding(this.embed, current, warped);
  }

  /** `current`'s features aggregated with those of `neighbours` (frames [N, H, W, 3]). */
  private aggregateFrames(
    current: tf.Tensor,
    own: { features: tf.Tensor[]; paddedSize: [number, number] },
    neighbours: readonly { frame: tf.Tensor; features: tf.Tensor[] }[],
    timer: Timer = untimed,
  ): tf.Tensor[] {
    const warped = neighbours.map(({ frame, features }) => {
      const flow = timer('flow', () => {
        const { flow, features: flowFeatures, predictions } = this.flownet.forward(current, frame);
        tf.dispose([flowFeatures, ...predictions]);
        return flow;
      });
      const out = timer('warp', () => warpPyramid(features, flow, own.paddedSize));
      flow.dispose();
      return out;
    });
    const { features, weights } = timer('aggregate', () => this.aggregate(own.features, warped));
    tf.dispose([...warped.flat(), ...weights]);
    return features;
  }

  /** Training losses of `current` aggregated with `references` (each [N, H, W, 3]; call inside tf.variableGrads). */
  loss(
    current: tf.Tensor,
    references: readonly tf.Tensor[],
    imageSizes: ReadonlyArray<readonly [number, number]>,
    targets: readonly Target[],
  ): Record<string, tf.Scalar> {
    const own = this.detector.features(current);
    const neighbours = references.map((frame) => ({ frame, features: this.detector.features(frame).features }));
    const aggregated = this.aggregateFrames(current, own, neighbours);
    const losses = this.detector.taskLoss(aggregated, own.paddedSize, imageSizes, targets);
    tf.dispose([...own.features, ...neighbours.flatMap((n) => n.features), ...aggregated]);
    return losses;
  }

  /**
   * Detections for every frame of a clip (frames [1, H, W, 3] in order), each aggregated over +-`radius` frames;
   * `timer` measures the components.
   */
  detectVideo(
    frames: readonly tf.Tensor[],
    imageSize: readonly [number, number],
    radius: number,
    timer: Timer = untimed,
  ): Detection[] {
    assertInteger('FGFA.detectVideo', 'radius', radius, 0);
    checkFrames('FGFA.detectVideo', frames);
    const perFrame = frames.map((frame) => ({ frame, ...timer('features', () => this.detector.features(frame)) }));
    const detections = perFrame.map((own, t) => {
      const neighbours = perFrame.filter((_, j) => j !== t && Math.abs(j - t) <= radius);
      const aggregated = this.aggregateFrames(own.frame, own, neighbours, timer);
      const [result] = timer('task', () => this.detector.detectFromFeatures(aggregated, own.paddedSize, [imageSize]));
      tf.dispose(aggregated);
      return result;
    });
    tf.dispose(perFrame.flatMap((f) => f.features));
    return detections;
  }
}
