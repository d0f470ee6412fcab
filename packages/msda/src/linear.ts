import * as tf from '@tensorflow/tfjs-core';
import { Module } from '@deformjs/core';

/** torch.nn.Linear with given initial values, weight [in, out] (layout `linear`: PyTorch's (out, in) converts on load). */
export class Linear extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;

  constructor(weight: tf.Tensor, bias: tf.Tensor) {
    super();
    this.weight = this.addParameter('weight', weight, 'linear');
    this.bias = this.addParameter('bias', bias);
  }

  /** x [..., in] -> [..., out]. */
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const [inFeatures, outFeatures] = this.weight.shape;
      const rows = tf.reshape(x, [-1, inFeatures]);
      return tf.reshape(tf.add(tf.matMul(rows, this.weight), this.bias), [...x.shape.slice(0, -1), outFeatures]);
    });
  }
}
