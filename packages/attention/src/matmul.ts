import * as tf from '@tensorflow/tfjs-core';

/**
 * a [B, M, K] @ b [B, K, N] -> [B, M, N] as B untransposed 2-D products, forward and backward. The wasm
 * backend multiplies a batch of matrices, or a transposed operand, in a scalar loop; a single untransposed 2-D
 * product goes to XNNPACK. The gradients are untransposed products too, of explicitly transposed operands:
 * dA_i = dy_i @ B_i^T, dB_i = A_i^T @ dy_i (dy is split once for both).
 */
export const matMulPerBatch = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [a, b, save] = args as [tf.Tensor3D, tf.Tensor3D, tf.GradSaveFunc];
  save([a, b]);
  const [as, bs] = [matrices(a), matrices(b)];
  return {
    value: stack(as.map((ai, i) => tf.matMul(ai, bs[i]))),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [a2, b2] = saved as [tf.Tensor3D, tf.Tensor3D];
      const dys = matrices(dy as tf.Tensor3D);
      const [as2, bs2] = [matrices(a2), matrices(b2)];
      return [stack(dys.map((d, i) => tf.matMul(d, tf.transpose(bs2[i])))), stack(dys.map((d, i) => tf.matMul(tf.transpose(as2[i]), d)))];
    },
  };
}) as (a: tf.Tensor3D, b: tf.Tensor3D) => tf.Tensor3D;

/** The B matrices of t [B, R, C]. */
function matrices(t: tf.Tensor3D): tf.Tensor2D[] {
  const [batch, rows, columns] = t.shape;
  return Array.from({ length: batch }, (_, i) => tf.reshape(tf.slice(t, [i, 0, 0], [1, rows, columns]), [rows, columns]) as tf.Tensor2D);
}

/** [R, C] matrices -> [B, R, C]. */
function stack(ms: tf.Tensor2D[]): tf.Tensor3D {
  const [rows, columns] = ms[0].shape;
  return tf.reshape(tf.concat(ms, 0), [ms.length, rows, columns]) as tf.Tensor3D;
}
