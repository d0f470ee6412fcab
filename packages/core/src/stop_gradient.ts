import * as tf from '@tensorflow/tfjs-core';

/**
 * x.detach(): the same values as a tensor no gradient flows through (tfjs has no stop_gradient). The copy is
 * made inside a customGrad forward, which the tape does not record, and the node's only input is a constant
 * anchor, so nothing connects the result to `x`: integer indices derived from a differentiated input can feed
 * a gather (GatherV2 would otherwise hand its int32 indices back as their "gradient"), and iterative box
 * refinement can cut the gradient between decoder layers.
 */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => {
    const anchor = tf.scalar(0);
    const copy = tf.customGrad(() => ({ value: tf.clone(x), gradFunc: () => tf.zerosLike(anchor) }))(anchor);
    // customGrad hands its value back as float32 whatever the dtype.
    return (copy.dtype === x.dtype ? copy : tf.cast(copy, x.dtype)) as T;
  });
}
