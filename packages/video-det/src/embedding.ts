import * as tf from '@tensorflow/tfjs-core';
import { argumentError, assertInteger, checkShapes, Linear, Module, Rng } from '@deformjs/core';
import { roiAlign } from '@deformjs/nn';
import type { TrackerConfig } from './tracklets';

export interface EmbeddingHeadConfig {
  /** Which feature map the boxes are pooled from (index into the detector's maps, finest first). */
  level: number;
  /** RoIAlign output size (poolSize x poolSize). */
  poolSize: number;
  hidden: number;
  /** Embedding size (128 in the paper). */
  dim: number;
  seed: number;
}

/**
 * The per-detection embedding head of tracklet-conditioned detection (arXiv 1811.11167): each box is pooled from
 * one of the detector's feature maps (aligned RoIAlign, `poolSize` x `poolSize`), flattened, and mapped by two
 * linears (ReLU between) to a `dim`-d embedding, compared by cosine similarity. The paper attaches it to the R-CNN
 * head beside the box outputs; here it reads the same feature maps the task network reads, so it serves any
 * `FrameDetector`.
 */
export class EmbeddingHead extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;

  constructor(
    readonly inChannels: number,
    readonly config: EmbeddingHeadConfig,
  ) {
    super();
    const op = 'EmbeddingHead';
    assertInteger(op, 'inChannels', inChannels, 1);
    assertInteger(op, 'config.level', config.level, 0);
    assertInteger(op, 'config.poolSize', config.poolSize, 1);
    assertInteger(op, 'config.hidden', config.hidden, 1);
    assertInteger(op, 'config.dim', config.dim, 1);
    const rng = new Rng(config.seed);
    this.fc1 = this.addModule('fc1', new Linear(rng, inChannels * config.poolSize ** 2, config.hidden));
    this.fc2 = this.addModule('fc2', new Linear(rng, config.hidden, config.dim));
  }

  /**
   * Embeddings [K, dim] of `boxes` [K, 5] rows (image index, x1, y1, x2, y2 in pixels of the padded input of
   * size `paddedSize`), read from `features[config.level]`.
   */
  forward(features: readonly tf.Tensor[], paddedSize: readonly [number, number], boxes: tf.Tensor): tf.Tensor2D {
    const op = 'EmbeddingHead';
    const map = features[this.config.level];
    if (!(map instanceof tf.Tensor))
      throw argumentError(op, 'features', `at least ${this.config.level + 1} feature maps`, features.length);
    checkShapes(op, [
      { name: `features[${this.config.level}]`, shape: map.shape, expected: ['N', 'h', 'w', this.inChannels] },
      { name: 'boxes', shape: boxes.shape, expected: ['K', 5] },
    ]);
    const spatialScale = (map.shape as number[])[2] / paddedSize[1];
    return tf.tidy(() => {
      const { poolSize } = this.config;
      const pooled = roiAlign(map, boxes, poolSize, { spatialScale, samplingRatio: 2, aligned: true });
      const flat = tf.reshape(pooled, [boxes.shape[0], -1]);
      return this.fc2.forward(tf.relu(this.fc1.forward(flat))) as tf.Tensor2D;
    });
  }
}

/**
 * How the association (and so the conditioned score) is trained: for each detection k of the current frame,
 * a softmax over [null, tracklet 1..T] of gamma * cosine similarity (the null tracklet's fixed at `nullSimilarity`)
 * and the cross-entropy of the right one, `targets[k]`: the tracklet of the same ground-truth object (its index + 1)
 * is the positive, the null tracklet (0) when the object has no tracklet yet (a new object), and every other
 * tracklet is a negative. `detections` [K, D], `tracklets` [T, D] (embeddings, normalised here).
 */
export function associationLoss(
  detections: tf.Tensor,
  tracklets: tf.Tensor,
  targets: Int32Array,
  config: Pick<TrackerConfig, 'similarityScale' | 'nullSimilarity'>,
): tf.Scalar {
  const op = 'associationLoss';
  const { K, T } = checkShapes(op, [
    { name: 'detections', shape: detections.shape, expected: ['K', 'D'] },
    { name: 'tracklets', shape: tracklets.shape, expected: ['T', 'D'] },
  ]);
  if (!(targets instanceof Int32Array) || targets.length !== K)
    throw argumentError(op, 'targets', `an Int32Array of ${K} indices in [0, ${T}]`, targets);
  targets.forEach((t, k) => {
    if (t < 0 || t > T) throw argumentError(op, `targets[${k}]`, `an index in [0, ${T}] (0: null tracklet)`, t);
  });
  return tf.tidy(() => {
    const unit = (x: tf.Tensor) => tf.div(x, tf.add(tf.norm(x, 'euclidean', 1, true), 1e-6));
    const cosine = tf.matMul(unit(detections), unit(tracklets), false, true);
    const logits = tf.mul(tf.concat([tf.fill([K, 1], config.nullSimilarity), cosine], 1), config.similarityScale);
    const onehot = tf.oneHot(tf.tensor1d(targets, 'int32'), T + 1);
    return tf.losses.softmaxCrossEntropy(onehot, logits) as tf.Scalar;
  });
}
