import * as tf from '@tensorflow/tfjs-core';
import { argumentError, checkShapes } from '@deformjs/core';

/** One decoder layer's predictions: class logits [N, Q, C] and boxes [N, Q, 4] as normalised (cx, cy, w, h). */
export interface Predictions {
  predLogits: tf.Tensor;
  predBoxes: tf.Tensor;
}

/**
 * The model's outputs as upstream's dict: the last decoder layer, `aux` for the earlier layers (first to
 * last) and, two-stage, `enc`, the encoder's proposals scored as one foreground class.
 */
export interface DetectionOutputs extends Predictions {
  aux: Predictions[];
  enc?: Predictions;
}

export function disposeOutputs(out: DetectionOutputs): void {
  tf.dispose([
    out.predLogits,
    out.predBoxes,
    ...out.aux.flatMap((a) => [a.predLogits, a.predBoxes]),
    ...(out.enc ? [out.enc.predLogits, out.enc.predBoxes] : []),
  ]);
}

/**
 * Upstream's NestedTensor, checked: images [N, H, W, 3] and mask [N, H, W] (bool, true at padding); the mask
 * is read back because its geometry (valid ratios, proposals) is computed on the host.
 */
export function readInputs(
  op: string,
  images: tf.Tensor,
  mask: tf.Tensor,
): { n: number; height: number; width: number; maskData: Uint8Array } {
  if (!(images instanceof tf.Tensor)) throw argumentError(op, 'images', 'a [N, H, W, 3] tensor (NHWC)', images);
  if (!(mask instanceof tf.Tensor)) throw argumentError(op, 'mask', 'a [N, H, W] bool tensor, true at padding', mask);
  const { N, H, W } = checkShapes(op, [
    { name: 'images', shape: images.shape, expected: ['N', 'H', 'W', 3] },
    { name: 'mask', shape: mask.shape, expected: ['N', 'H', 'W'] },
  ]);
  if (mask.dtype !== 'bool') throw argumentError(op, 'mask', 'dtype bool (true at padding)', mask.dtype);
  return { n: N, height: H, width: W, maskData: Uint8Array.from(mask.dataSync() as Uint8Array) };
}

/** inverse_sigmoid(x, eps=1e-5) = log(x / (1 - x)) with x clamped to [0, 1] and both terms to >= eps. */
export function inverseSigmoid(x: tf.Tensor, eps = 1e-5): tf.Tensor {
  return tf.tidy(() => {
    const c = tf.clipByValue(x, 0, 1);
    return tf.log(tf.div(tf.maximum(c, eps), tf.maximum(tf.sub(1, c), eps)));
  });
}
