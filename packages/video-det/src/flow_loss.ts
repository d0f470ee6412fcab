import * as tf from '@tensorflow/tfjs-core';
import { argumentError, checkShapes } from '@deformjs/core';
import { FLOW_DIV } from './flownet';

/** flownet2-pytorch's MultiScale weights for flow2..flow6: 0.32 / 2^scale. */
const SCALE_WEIGHTS = [0.32, 0.16, 0.08, 0.04, 0.02];

/**
 * FlowNet's training loss (flownet2-pytorch `MultiScale`, L2 norm): for each prediction flow2..flow6 (stride 4 * 2^i,
 * divided by FLOW_DIV), the mean end-point error against the ground truth divided by FLOW_DIV and average-pooled to
 * that stride, weighted 0.32 / 2^i. `groundTruth` [N, H, W, 2] in input pixels.
 */
export function multiScaleEpeLoss(predictions: readonly tf.Tensor[], groundTruth: tf.Tensor): tf.Scalar {
  const op = 'multiScaleEpeLoss';
  if (!Array.isArray(predictions) || predictions.length !== SCALE_WEIGHTS.length)
    throw argumentError(op, 'predictions', `${SCALE_WEIGHTS.length} flows (flow2..flow6)`, predictions);
  const { H, W } = checkShapes(op, [{ name: 'groundTruth', shape: groundTruth.shape, expected: ['N', 'H', 'W', 2] }]);
  return tf.tidy(() => {
    const target = tf.div(groundTruth, FLOW_DIV) as tf.Tensor4D;
    const terms = predictions.map((prediction, i) => {
      const stride = 4 * 2 ** i;
      checkShapes(op, [
        {
          name: `predictions[${i}]`,
          shape: prediction.shape,
          expected: [groundTruth.shape[0], Math.ceil(H / stride), Math.ceil(W / stride), 2],
        },
      ]);
      const pooled = tf.avgPool(target, stride, stride, 'same');
      const epe = tf.mean(tf.sqrt(tf.add(tf.sum(tf.square(tf.sub(prediction, pooled)), 3), 1e-12)));
      return tf.mul(epe, SCALE_WEIGHTS[i]);
    });
    return tf.addN(terms) as tf.Scalar;
  });
}
