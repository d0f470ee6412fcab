import * as tf from '@tensorflow/tfjs-core';
import { checkShapes } from '@deformjs/core';

/**
 * F.smooth_l1_loss(input, target, beta, reduction='sum'): 0.5 x^2 / beta where |x| < beta, else |x| - 0.5 beta.
 * Faster R-CNN uses beta 1/9 and divides the sum by the number of sampled anchors or RoIs.
 */
export function smoothL1Sum(input: tf.Tensor, target: tf.Tensor, beta: number): tf.Scalar {
  checkShapes('smoothL1Sum', [
    { name: 'input', shape: input.shape, expected: ['N', 4] },
    { name: 'target', shape: target.shape, expected: ['N', 4] },
  ]);
  return tf.tidy(() => {
    // With n = min(|x|, beta): 0.5 n^2 / beta + (|x| - n), the same piecewise function without a select.
    const x = tf.abs(tf.sub(input, target));
    const n = tf.minimum(x, beta);
    return tf.sum(tf.add(tf.div(tf.mul(tf.square(n), 0.5), beta), tf.sub(x, n)));
  });
}

/** F.binary_cross_entropy_with_logits, mean over the elements (the RPN's objectness loss). */
export function binaryCrossEntropyWithLogits(logits: tf.Tensor, targets: tf.Tensor): tf.Scalar {
  checkShapes('binaryCrossEntropyWithLogits', [
    { name: 'logits', shape: logits.shape, expected: ['N'] },
    { name: 'targets', shape: targets.shape, expected: ['N'] },
  ]);
  // max(x, 0) - x t + log(1 + exp(-|x|)): stable for large |x|.
  return tf.tidy(() =>
    tf.mean(tf.add(tf.sub(tf.relu(logits), tf.mul(logits, targets)), tf.log1p(tf.exp(tf.neg(tf.abs(logits)))))),
  );
}

/** F.cross_entropy(logits [N, C], labels [N] int32), mean over N (the box head's classification loss). */
export function crossEntropy(logits: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  const { C } = checkShapes('crossEntropy', [
    { name: 'logits', shape: logits.shape, expected: ['N', 'C'] },
    { name: 'labels', shape: labels.shape, expected: ['N'] },
  ]);
  return tf.tidy(() => tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(logits), tf.oneHot(labels, C)), 1))) as tf.Scalar);
}

/** Mean over rows of 1 - cos(a_i, b_i) for [N, D] features (DCNv2's feature mimic loss). */
export function cosineMimicLoss(a: tf.Tensor, b: tf.Tensor): tf.Scalar {
  checkShapes('cosineMimicLoss', [
    { name: 'a', shape: a.shape, expected: ['N', 'D'] },
    { name: 'b', shape: b.shape, expected: ['N', 'D'] },
  ]);
  return tf.tidy(() => {
    // F.cosine_similarity's eps 1e-8 on each norm.
    const norm = (x: tf.Tensor) => tf.maximum(tf.sqrt(tf.sum(tf.square(x), 1)), 1e-8);
    const cos = tf.div(tf.sum(tf.mul(a, b), 1), tf.mul(norm(a), norm(b)));
    return tf.mean(tf.sub(1, cos));
  });
}
