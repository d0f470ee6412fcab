import * as tf from '@tensorflow/tfjs-core';
import { addBias, assertInteger, Module, type Rng, torchDefaultUniform } from '@deformjs/core';

/**
 * nn.ConvTranspose2d(in, out, kernel 4, stride 2, padding 1), FlowNet's upsampling layer, on NHWC: the output is
 * exactly twice the input's height and width. PyTorch's weight (in, out, kh, kw) is stored as tfjs's
 * conv2dTranspose filter [kh, kw, out, in], the 'conv2d' layout's permutation.
 */
export class ConvTranspose2d extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | null;

  constructor(
    rng: Rng,
    readonly inChannels: number,
    readonly outChannels: number,
    options: { bias?: boolean } = {},
  ) {
    super();
    assertInteger('ConvTranspose2d', 'inChannels', inChannels, 1);
    assertInteger('ConvTranspose2d', 'outChannels', outChannels, 1);
    // PyTorch's default init draws from the weight's fan-in as it sees it: dim 1 (out) x kh x kw.
    const fanIn = outChannels * 16;
    this.weight = this.addParameter(
      'weight',
      torchDefaultUniform(rng, [4, 4, outChannels, inChannels], fanIn),
      'conv2d',
    );
    this.bias =
      options.bias === false ? null : this.addParameter('bias', torchDefaultUniform(rng, [outChannels], fanIn));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const [N, H, W] = x.shape;
      const y = tf.conv2dTranspose(
        x as tf.Tensor4D,
        this.weight as tf.Tensor4D,
        [N, 2 * H, 2 * W, this.outChannels],
        2,
        'same',
      );
      return this.bias ? addBias(y, this.bias) : y;
    });
  }
}
