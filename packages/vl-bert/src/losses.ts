import * as tf from '@tensorflow/tfjs-core';
import { checkShapes } from '@deformjs/core';

/**
 * Soft cross-entropy -sum_c targets_c log softmax(logits)_c, averaged over the rows (masked RoI
 * classification against a detector's class scores; one-hot targets make it the ordinary cross-entropy).
 * logits and targets [N, C]. N = 0 gives 0 still connected to `logits` (zero gradients), so a training step over a
 * batch where nothing is masked runs instead of failing for a loss that no variable reaches.
 */
export function softCrossEntropy(logits: tf.Tensor, targets: tf.Tensor): tf.Scalar {
  const { N } = checkShapes('softCrossEntropy', [
    { name: 'logits', shape: logits.shape, expected: ['N', 'C'] },
    { name: 'targets', shape: targets.shape, expected: ['N', 'C'] },
  ]);
  return tf.tidy(() =>
    N === 0 ? tf.mul(tf.sum(logits), 0) : tf.neg(tf.div(tf.sum(tf.mul(targets, tf.logSoftmax(logits))), N)),
  ) as tf.Scalar;
}

/** Cross-entropy against class indices (MLM's word ids, hard RoI labels): logits [N, C], labels N ids. */
export function crossEntropy(logits: tf.Tensor, labels: ArrayLike<number>): tf.Scalar {
  const C = logits.shape[1]!;
  checkShapes('crossEntropy', [{ name: 'logits', shape: logits.shape, expected: [labels.length, 'C'] }]);
  return tf.tidy(() => softCrossEntropy(logits, tf.oneHot(tf.tensor1d(Array.from(labels), 'int32'), C)));
}

/**
 * Binary cross-entropy with logits, max(x, 0) - x t + log(1 + exp(-|x|)), summed with `weights` (default 1)
 * and divided by the weights' sum (0 when it is 0).
 */
export function binaryCrossEntropyWithLogits(logits: tf.Tensor, targets: tf.Tensor, weights?: tf.Tensor): tf.Scalar {
  checkShapes('binaryCrossEntropyWithLogits', [
    { name: 'targets', shape: targets.shape, expected: logits.shape },
    ...(weights ? [{ name: 'weights', shape: weights.shape, expected: logits.shape }] : []),
  ]);
  return tf.tidy(() => {
    const elementwise = tf.add(tf.sub(tf.relu(logits), tf.mul(logits, targets)), tf.softplus(tf.neg(tf.abs(logits))));
    const w = weights ?? tf.onesLike(logits);
    return tf.div(tf.sum(tf.mul(elementwise, w)), tf.maximum(tf.sum(w), 1e-12));
  }) as tf.Scalar;
}

/** VQA's loss as upstream: BCE with logits against soft answer scores [B, A], mean over all times A. */
export function vqaLoss(logits: tf.Tensor, scores: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.mul(binaryCrossEntropyWithLogits(logits, scores), logits.shape[1]!)) as tf.Scalar;
}
