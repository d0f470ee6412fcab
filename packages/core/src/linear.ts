import * as tf from '@tensorflow/tfjs-core';
import { assertInteger, checkShapes } from '@deformjs/validate';
import { addBias } from './add_bias';
import { Module } from './module';
import { type Rng, torchDefaultUniform } from './random';

export interface LinearOptions {
  /** Whether the layer has a bias (default true). */
  bias?: boolean;
  /**
   * Initial values instead of PyTorch's default U(-1/sqrt(in), 1/sqrt(in)): weight [in, out], bias [out].
   * The layer takes ownership of these tensors.
   */
  init?: { weight: tf.Tensor; bias?: tf.Tensor };
}

/** nn.Linear: weight (in, out) here, (out, in) in PyTorch (layout 'linear' converts at import). */
export class Linear extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | null;

  constructor(
    rng: Rng,
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: LinearOptions = {},
  ) {
    super();
    assertInteger('Linear', 'inFeatures', inFeatures, 1);
    assertInteger('Linear', 'outFeatures', outFeatures, 1);
    const { init } = options;
    if (init) {
      checkShapes('Linear', [
        { name: 'init.weight', shape: init.weight.shape, expected: [inFeatures, outFeatures] },
        ...(init.bias ? [{ name: 'init.bias', shape: init.bias.shape, expected: [outFeatures] }] : []),
      ]);
    }
    this.weight = this.addParameter(
      'weight',
      init?.weight ?? torchDefaultUniform(rng, [inFeatures, outFeatures], inFeatures),
      'linear',
    );
    this.bias =
      options.bias === false
        ? null
        : this.addParameter(
            'bias',
            init?.bias ?? (init ? tf.zeros([outFeatures]) : torchDefaultUniform(rng, [outFeatures], inFeatures)),
          );
  }

  /** x [..., in] -> [..., out]. */
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const flat = tf.reshape(x, [-1, this.inFeatures]) as tf.Tensor2D;
      let y: tf.Tensor = tf.matMul(flat, this.weight);
      if (this.bias) y = addBias(y, this.bias);
      return tf.reshape(y, [...x.shape.slice(0, -1), this.outFeatures]);
    });
  }
}
