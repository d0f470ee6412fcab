import * as tf from '@tensorflow/tfjs-core';
import {
  Module,
  addBias,
  argumentError,
  assertInteger,
  checkShapes,
  conv2dNhwc,
  pair,
  torchDefaultUniform,
  type Layer,
  type Rng,
} from '@deformjs/core';

export interface DepthwiseConv2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
  bias?: boolean;
}

/**
 * nn.Conv2d(C, C, kernelSize, groups=C) on NHWC, MobileNet's depthwise conv: every channel convolved with its
 * own kernel. The weight is tfjs's depthwise filter [kh, kw, C, 1] (PyTorch's (C, 1, kh, kw) converts at import,
 * layout 'depthwise'); dilated, it runs as space-to-batch like Conv2d. Channel multiplier 1, as MobileNets use.
 */
export class DepthwiseConv2d extends Module implements Layer {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | null;
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];

  constructor(
    rng: Rng,
    readonly channels: number,
    kernelSize: number | [number, number],
    options: DepthwiseConv2dOptions = {},
  ) {
    super();
    const op = 'DepthwiseConv2d';
    assertInteger(op, 'channels', channels, 1);
    const [kh, kw] = pair(op, 'kernelSize', kernelSize);
    this.stride = pair(op, 'stride', options.stride ?? 1);
    this.padding = pair(op, 'padding', options.padding ?? 0, 0);
    this.dilation = pair(op, 'dilation', options.dilation ?? 1);
    // PyTorch's fan-in of a grouped conv counts one group's input channels: here 1.
    const fanIn = kh * kw;
    this.weight = this.addParameter('weight', torchDefaultUniform(rng, [kh, kw, channels, 1], fanIn), 'depthwise');
    this.bias = options.bias === false ? null : this.addParameter('bias', torchDefaultUniform(rng, [channels], fanIn));
  }

  forward(x: tf.Tensor): tf.Tensor {
    checkShapes('DepthwiseConv2d', [{ name: 'x', shape: x.shape, expected: ['N', 'H', 'W', this.channels] }]);
    return tf.tidy(() => {
      const y = conv2dNhwc(
        x as tf.Tensor4D,
        this.weight as tf.Tensor4D,
        this.stride,
        this.padding,
        this.dilation,
        true,
      );
      return this.bias ? addBias(y, this.bias) : y;
    });
  }
}

export interface ConvTranspose2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
  /** Extra rows and columns at the bottom and right of the output, each below the stride (PyTorch's rule). */
  outputPadding?: number | [number, number];
  bias?: boolean;
}

/**
 * nn.ConvTranspose2d on NHWC (no groups, no dilation): output size (H - 1) * stride - 2 * padding + kernel +
 * outputPadding, as PyTorch. PyTorch's weight (in, out, kh, kw) is stored as tfjs's conv2dTranspose filter
 * [kh, kw, out, in], the 'conv2d' layout's permutation. It is tf.conv2dTranspose, the gradient of the conv that
 * maps the output back to the input with the same stride and padding, so its own gradients are that conv's.
 */
export class ConvTranspose2d extends Module implements Layer {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | null;
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly outputPadding: [number, number];

  constructor(
    rng: Rng,
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: number | [number, number],
    options: ConvTranspose2dOptions = {},
  ) {
    super();
    const op = 'ConvTranspose2d';
    assertInteger(op, 'inChannels', inChannels, 1);
    assertInteger(op, 'outChannels', outChannels, 1);
    const [kh, kw] = (this.kernelSize = pair(op, 'kernelSize', kernelSize));
    this.stride = pair(op, 'stride', options.stride ?? 1);
    this.padding = pair(op, 'padding', options.padding ?? 0, 0);
    this.outputPadding = pair(op, 'outputPadding', options.outputPadding ?? 0, 0);
    this.outputPadding.forEach((p, axis) => {
      if (p >= this.stride[axis])
        throw argumentError(op, 'outputPadding', `below the stride [${this.stride.join(', ')}]`, options.outputPadding);
    });
    // PyTorch's default init draws from the fan-in it computes from weight dim 1 (out) x kh x kw.
    const fanIn = outChannels * kh * kw;
    this.weight = this.addParameter(
      'weight',
      torchDefaultUniform(rng, [kh, kw, outChannels, inChannels], fanIn),
      'conv2d',
    );
    this.bias =
      options.bias === false ? null : this.addParameter('bias', torchDefaultUniform(rng, [outChannels], fanIn));
  }

  /** Output [height, width] for an input of [height, width]; an error names `x` when it would be empty. */
  outputSize(height: number, width: number): [number, number] {
    const size = ([height, width] as const).map(
      (n, a) => (n - 1) * this.stride[a] - 2 * this.padding[a] + this.kernelSize[a] + this.outputPadding[a],
    );
    if (size[0] < 1 || size[1] < 1)
      throw argumentError(
        'ConvTranspose2d',
        'x',
        `a size giving a non-empty output (padding [${this.padding.join(', ')}] leaves ${size.join(' x ')})`,
        `height ${height}, width ${width}`,
      );
    return [size[0], size[1]];
  }

  forward(x: tf.Tensor): tf.Tensor {
    const { N, H, W } = checkShapes('ConvTranspose2d', [
      { name: 'x', shape: x.shape, expected: ['N', 'H', 'W', this.inChannels] },
    ]);
    const [Ho, Wo] = this.outputSize(H, W);
    const [ph, pw] = this.padding;
    const pad: Parameters<typeof tf.conv2dTranspose>[4] =
      ph === pw
        ? ph
        : [
            [0, 0],
            [ph, ph],
            [pw, pw],
            [0, 0],
          ];
    return tf.tidy(() => {
      const y = tf.conv2dTranspose(
        x as tf.Tensor4D,
        this.weight as tf.Tensor4D,
        [N, Ho, Wo, this.outChannels],
        this.stride,
        pad,
      );
      return this.bias ? addBias(y, this.bias) : y;
    });
  }
}
