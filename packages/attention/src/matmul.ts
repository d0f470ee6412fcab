import * as tf from '@tensorflow/tfjs-core';

/**
 * a [B, M, K] @ b [B, K, N] -> [B, M, N] as B untransposed 2-D products, forward and backward. The wasm
 * backend multiplies a batch of matrices, or a transposed operand, in a scalar loop; a single untransposed 2-D
 * product goes to XNNPACK. The gradients are untransposed products too, of explicitly transposed operands:
 * dA_i = dy_i @ B_i^T, dB_i = A_i^T @ dy_i.
 */
export const matMulPerBatch = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [a, b, save] = args as [tf.Tensor3D, tf.Tensor3D, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: products(a, b, false, false),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [a2, b2] = saved as [tf.Tensor3D, tf.Tensor3D];
      return [products(dy as tf.Tensor3D, b2, false, true), products(a2, dy as tf.Tensor3D, true, false)];
    },
  };
}) as (a: tf.Tensor3D, b: tf.Tensor3D) => tf.Tensor3D;

/** The B products a_i @ b_i, either operand transposed first (explicitly) when asked. */
function products(a: tf.Tensor3D, b: tf.Tensor3D, transposeA: boolean, transposeB: boolean): tf.Tensor3D {
  const batch = a.shape[0];
  const matrix = (t: tf.Tensor3D, i: number, transpose: boolean) => {
    const m = tf.reshape(tf.slice(t, [i, 0, 0], [1, t.shape[1], t.shape[2]]), [t.shape[1], t.shape[2]]) as tf.Tensor2D;
    return transpose ? tf.transpose(m) : m;
  };
  const outs: tf.Tensor2D[] = [];
  for (let i = 0; i < batch; i++) outs.push(tf.matMul(matrix(a, i, transposeA), matrix(b, i, transposeB)));
  const [rows, columns] = outs[0].shape;
  return tf.reshape(tf.concat(outs, 0), [batch, rows, columns]) as tf.Tensor3D;
}
