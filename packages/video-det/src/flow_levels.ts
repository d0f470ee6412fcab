import * as tf from '@tensorflow/tfjs-core';
import { resizeBilinear } from '@deformjs/nn';
import { warp } from './warp';

/**
 * Warps every map of a feature pyramid with one flow: the flow (in input pixels, at any stride) is resized to
 * each map's size and divided by that map's stride (input size / map size), DFF's "flow at the feature stride";
 * `scale` (DFF's scale field, [N, h, w, C], or null) is resized the same way and multiplies the warped features.
 */
export function warpPyramid(
  features: readonly tf.Tensor[],
  flow: tf.Tensor,
  inputSize: readonly [number, number],
  scale: tf.Tensor | null = null,
): tf.Tensor[] {
  return features.map((f) =>
    tf.tidy(() => {
      const [, h, w] = f.shape;
      const levelFlow = tf.mul(resizeBilinear(flow, [h, w]), tf.tensor1d([w / inputSize[1], h / inputSize[0]]));
      const warped = warp(f, levelFlow);
      return scale ? tf.mul(warped, resizeBilinear(scale, [h, w])) : warped;
    }),
  );
}
