import * as tf from '@tensorflow/tfjs-core';
import { argumentError, assertInteger, Conv2d, Module, Rng, stopGradient } from '@deformjs/core';
import { resizeBilinear } from '@deformjs/nn';
import { aggregateByEmbedding, Embedding } from './aggregation';
import { checkFrames, type FrameDetector } from './detector';
import { warpPyramid } from './flow_levels';
import { FlowNetS, type FlowNetSConfig } from './flownet';
import { untimed, type Timer } from './timing';

export interface UnifiedConfig {
  flownet: FlowNetSConfig;
  /** Width of the key-frame aggregation's embedding network (FGFA's). */
  embedChannels: number;
  seed: number;
}

/** How the unified design runs a video. */
export interface UnifiedInference {
  /** Key frames: every `keyInterval` frames, or (adaptive) when the quality map says propagation fails. */
  keyInterval: number;
  adaptive: boolean;
  /** A position is recomputed (partial update) where the predicted quality Q <= tau. */
  tau: number;
  /** Adaptive keys: a frame is a key frame when more than `gamma` of its positions have Q <= tau. */
  gamma: number;
}

/** Per frame of a video: detections, whether it was a key frame, and the fraction of positions recomputed. */
export interface UnifiedVideo<Detection> {
  detections: Detection[];
  keyFrames: boolean[];
  /** Fraction of stride-4 positions with Q <= tau (1 on key frames, 0 on the first). */
  updated: number[];
}

/**
 * The unified design of "Towards High Performance Video Object Detection" (Zhu, Dai, Yuan, Wei; arXiv 1711.11577),
 * around any per-frame detector split into feature and task networks:
 *
 * - sparse recursive feature aggregation: only key frames aggregate, and they aggregate the previous key frame's
 *   already aggregated features warped to them, `F_k' = W_{k->k'} warp(F_k) + W_{k'->k'} F_k'`, with FGFA's
 *   per-position cosine-similarity softmax weights;
 * - spatially adaptive partial feature updating: the flow network also predicts a quality map Q (a 3x3 conv on the
 *   flow decoder's last features, stride 4); a non-key frame's features are its own where Q <= tau and the key
 *   frame's warped features elsewhere, `F_i = U F_i' + (1 - U) warp(F_k)`, `U = [Q <= tau]`, on every pyramid level;
 * - temporally adaptive key-frame scheduling: a frame becomes a key frame when the fraction of positions with
 *   Q <= tau exceeds gamma.
 *
 * Q is trained here to regress the measured consistency of propagation, the cosine similarity between the key
 * frame's warped finest features and the frame's own (gradient stopped), so that "Q <= tau" means "propagated
 * features disagree with recomputed ones". The partial update computes the frame's features densely and mixes:
 * the positions it keeps are what a sparse implementation would compute, not what this one saves.
 */
export class UnifiedVOD<Target, Detection> extends Module {
  readonly flownet: FlowNetS;
  readonly quality: Conv2d;
  readonly embed: Embedding;

  constructor(
    readonly detector: FrameDetector<Target, Detection>,
    config: UnifiedConfig,
  ) {
    super();
    assertInteger('UnifiedVOD', 'config.embedChannels', config.embedChannels, 1);
    const rng = new Rng(config.seed);
    this.addModule('detector', detector);
    this.flownet = this.addModule('flownet', new FlowNetS(config.flownet));
    this.quality = this.addModule('quality', new Conv2d(rng, this.flownet.featureChannels, 1, 3, { padding: 1 }));
    this.embed = this.addModule('embed', new Embedding(rng, detector.featureChannels, config.embedChannels));
  }

  /** Backward flow from `current` to `key` and the quality map Q, both [N, H/4, W/4, *]. */
  flowAndQuality(current: tf.Tensor, key: tf.Tensor): { flow: tf.Tensor; quality: tf.Tensor } {
    const { flow, features, predictions } = this.flownet.forward(current, key);
    const quality = this.quality.forward(features);
    tf.dispose([features, ...predictions]);
    return { flow, quality };
  }

  /** `F = U own + (1 - U) propagated` per level, with U = [Q <= tau] resized (nearest) to each level. */
  partialUpdate(
    own: readonly tf.Tensor[],
    propagated: readonly tf.Tensor[],
    quality: tf.Tensor,
    tau: number,
  ): tf.Tensor[] {
    return own.map((f, level) =>
      tf.tidy(() => {
        const [, h, w] = f.shape;
        const update = tf.cast(
          tf.lessEqual(tf.image.resizeNearestNeighbor(quality as tf.Tensor4D, [h, w]), tau),
          'float32',
        );
        return tf.add(tf.mul(update, f), tf.mul(tf.sub(1, update), propagated[level]));
      }),
    );
  }

  /**
   * Training losses of `current` with the earlier frame `key` (call inside tf.variableGrads): the task losses of
   * the key-frame aggregation (`aggregate.*`) and of the partial update (`update.*`, with U from the predicted Q,
   * its gradient stopped), each weighted 1/2, and `loss_quality`, the squared error of Q against the measured
   * cosine similarity of the warped and the own finest features.
   */
  loss(
    current: tf.Tensor,
    key: tf.Tensor,
    imageSizes: ReadonlyArray<readonly [number, number]>,
    targets: readonly Target[],
    tau: number,
  ): Record<string, tf.Scalar> {
    const own = this.detector.features(current);
    const keyFeatures = this.detector.features(key).features;
    const { flow, quality } = this.flowAndQuality(current, key);
    const propagated = warpPyramid(keyFeatures, flow, own.paddedSize);
    const aggregated = aggregateByEmbedding(this.embed, own.features, [propagated]);
    const updated = this.partialUpdate(own.features, propagated, stopGradient(quality), tau);
    const losses: Record<string, tf.Scalar> = {};
    for (const [branch, features] of [
      ['aggregate', aggregated.features],
      ['update', updated],
    ] as const) {
      for (const [name, value] of Object.entries(this.detector.taskLoss(features, own.paddedSize, imageSizes, targets)))
        losses[`${branch}.${name}`] = tf.mul(value, 0.5);
    }
    losses.loss_quality = tf.tidy(() => {
      const consistency = stopGradient(cosineSimilarity(propagated[0], own.features[0]));
      const predicted = resizeBilinear(quality, consistency.shape.slice(1, 3) as [number, number]);
      return tf.mean(tf.square(tf.sub(predicted, consistency)));
    });
    tf.dispose([
      ...own.features,
      ...keyFeatures,
      flow,
      quality,
      ...propagated,
      ...aggregated.features,
      ...aggregated.weights,
      ...updated,
    ]);
    return losses;
  }

  /**
   * Detections for every frame of a video (frames [1, H, W, 3] in order), online: the first frame is a key frame;
   * every other frame gets the flow and Q to the last key frame; a key frame (fixed interval, or adaptive on Q)
   * aggregates its own features with the warped key features and becomes the new key; any other frame is
   * partially updated where Q <= tau. `timer` measures the components.
   */
  detectVideo(
    frames: readonly tf.Tensor[],
    imageSize: readonly [number, number],
    inference: UnifiedInference,
    timer: Timer = untimed,
  ): UnifiedVideo<Detection> {
    const op = 'UnifiedVOD.detectVideo';
    assertInteger(op, 'inference.keyInterval', inference.keyInterval, 1);
    for (const name of ['tau', 'gamma'] as const)
      if (!Number.isFinite(inference[name]))
        throw argumentError(op, `inference.${name}`, 'a finite number', inference[name]);
    checkFrames(op, frames);
    const { tau, gamma } = inference;
    const video: UnifiedVideo<Detection> = { detections: [], keyFrames: [], updated: [] };
    const task = (features: tf.Tensor[], paddedSize: [number, number]) =>
      timer('task', () => this.detector.detectFromFeatures(features, paddedSize, [imageSize]));
    const first = timer('features', () => this.detector.features(frames[0]));
    let key = { frame: frames[0], t: 0, features: first.features };
    const paddedSize = first.paddedSize;
    video.detections.push(...task(key.features, paddedSize));
    video.keyFrames.push(true);
    video.updated.push(0);
    for (let t = 1; t < frames.length; t++) {
      const frame = frames[t];
      const { flow, quality } = timer('flow', () => this.flowAndQuality(frame, key.frame));
      const propagated = timer('warp', () => warpPyramid(key.features, flow, paddedSize));
      const updated = tf.tidy(() => tf.mean(tf.cast(tf.lessEqual(quality, tau), 'float32')).dataSync()[0]);
      const isKey = inference.adaptive ? updated > gamma : t - key.t >= inference.keyInterval;
      let features: tf.Tensor[];
      if (isKey) {
        const own = timer('features', () => this.detector.features(frame).features);
        const aggregated = timer('aggregate', () => aggregateByEmbedding(this.embed, own, [propagated]));
        tf.dispose([...own, ...aggregated.weights, ...propagated, ...key.features]);
        key = { frame, t, features: aggregated.features };
        features = key.features;
      } else if (updated > 0) {
        const own = timer('features', () => this.detector.features(frame).features);
        features = timer('update', () => this.partialUpdate(own, propagated, quality, tau));
        tf.dispose([...own, ...propagated]);
      } else {
        features = propagated;
      }
      video.detections.push(...task(features, paddedSize));
      video.keyFrames.push(isKey);
      video.updated.push(isKey ? 1 : updated);
      if (!isKey) tf.dispose(features);
      tf.dispose([flow, quality]);
    }
    tf.dispose(key.features);
    return video;
  }
}

/** Per-position cosine similarity of two [N, h, w, C] maps over channels: [N, h, w, 1]. */
function cosineSimilarity(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const dot = tf.sum(tf.mul(a, b), 3, true);
    const norms = tf.mul(tf.norm(a, 'euclidean', 3, true), tf.norm(b, 'euclidean', 3, true));
    return tf.div(dot, tf.add(norms, 1e-12));
  });
}
