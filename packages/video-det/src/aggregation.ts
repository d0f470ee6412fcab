import * as tf from '@tensorflow/tfjs-core';
import { Conv2d, Module, type Rng } from '@deformjs/core';

/** FGFA's embedding network: 1x1, ReLU, 3x3, ReLU, 1x1 (no activation on the embedding itself). */
export class Embedding extends Module {
  readonly conv1: Conv2d;
  readonly conv2: Conv2d;
  readonly conv3: Conv2d;
  constructor(rng: Rng, inChannels: number, channels: number) {
    super();
    this.conv1 = this.addModule('conv1', new Conv2d(rng, inChannels, channels, 1));
    this.conv2 = this.addModule('conv2', new Conv2d(rng, channels, channels, 3, { padding: 1 }));
    this.conv3 = this.addModule('conv3', new Conv2d(rng, channels, 4 * channels, 1));
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.conv3.forward(tf.relu(this.conv2.forward(tf.relu(this.conv1.forward(x))))));
  }
}

/**
 * FGFA's adaptive weights, shared by FGFA and the unified design's key-frame aggregation: per pyramid level and
 * position, a softmax over frames of the cosine similarity between the L2-normalised embedding of the frame's own
 * features `current` and of each candidate (the frame itself first, then each of `warped`, maps already warped to
 * the frame); returns the weighted sums and the weights ([N, h, w, frames] per level, own first).
 */
export function aggregateByEmbedding(
  embed: Embedding,
  current: readonly tf.Tensor[],
  warped: readonly (readonly tf.Tensor[])[],
): { features: tf.Tensor[]; weights: tf.Tensor[] } {
  const features: tf.Tensor[] = [];
  const weights: tf.Tensor[] = [];
  current.forEach((own, level) =>
    tf.tidy(() => {
      const candidates = [own, ...warped.map((w) => w[level])];
      const embeddings = candidates.map((c) => {
        const e = embed.forward(c);
        return tf.div(e, tf.add(tf.norm(e, 'euclidean', 3, true), 1e-12));
      });
      const similarity = tf.concat(
        embeddings.map((e) => tf.sum(tf.mul(e, embeddings[0]), 3, true)),
        3,
      );
      const w = tf.softmax(similarity);
      const sum = tf.addN(candidates.map((c, j) => tf.mul(tf.slice(w, [0, 0, 0, j], [-1, -1, -1, 1]), c)));
      features.push(tf.keep(sum));
      weights.push(tf.keep(w));
    }),
  );
  return { features, weights };
}
