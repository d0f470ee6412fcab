import * as tf from '@tensorflow/tfjs-core';
import { Module, argumentError, assertDivides, assertInteger } from '@deformjs/core';
import type { Layer } from './layers';

/**
 * nn.GroupNorm on NHWC: channels split into `numGroups` groups, each normalised over (H, W, channels of the
 * group) with the biased variance, then a per-channel affine `weight`/`bias` (Deformable DETR's input
 * projections use GroupNorm(32, 256)).
 */
export class GroupNorm extends Module implements Layer {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;

  constructor(
    readonly numGroups: number,
    readonly numChannels: number,
    readonly eps = 1e-5,
  ) {
    super();
    assertInteger('GroupNorm', 'numGroups', numGroups, 1);
    assertInteger('GroupNorm', 'numChannels', numChannels, 1);
    assertDivides('GroupNorm', 'numGroups', numGroups, numChannels, 'numChannels');
    this.weight = this.addParameter('weight', tf.ones([numChannels]));
    this.bias = this.addParameter('bias', tf.zeros([numChannels]));
  }

  forward(x: tf.Tensor): tf.Tensor {
    if (x.rank !== 4 || x.shape[3] !== this.numChannels)
      throw argumentError('GroupNorm', 'x', `[N, H, W, ${this.numChannels}]`, x.shape);
    const [n, h, w, c] = x.shape;
    const g = this.numGroups;
    return tf.tidy(() => {
      const grouped = tf.reshape(x, [n, h * w, g, c / g]);
      const { mean, variance } = tf.moments(grouped, [1, 3], true);
      const normed = tf.reshape(tf.mul(tf.sub(grouped, mean), tf.rsqrt(tf.add(variance, this.eps))), [n, h, w, c]);
      return tf.add(tf.mul(normed, this.weight), this.bias);
    });
  }
}
