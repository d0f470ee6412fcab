import * as tf from '@tensorflow/tfjs-core';
import { assertInteger, pair } from '@deformjs/validate';
import { addBias } from './add_bias';
import { convOutputSize } from './conv_geometry';
import { Module, type Layer } from './module';
import { type Rng, kaimingNormalFanOut, torchDefaultUniform } from './random';

export interface Conv2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
  bias?: boolean;
  /**
   * 'torch' (default): PyTorch's default init; 'kaiming-fan-out': torchvision's ResNet init (bias 0); 'zeros':
   * weight and bias 0 (mmcv's `conv_offset`, which starts a deformable conv as the plain one). Only 'torch' and
   * 'kaiming-fan-out' draw from `rng`.
   */
  init?: 'torch' | 'kaiming-fan-out' | 'zeros';
}

/**
 * nn.Conv2d on NHWC: weight HWIO (PyTorch OIHW converts on load), symmetric zero padding. Dilated
 * convolutions run as space-to-batch + dense conv + batch-to-space, because tfjs's Conv2D gradient refuses
 * dilation > 1; the result is the same and trainable. It lives in core, beside Linear, so op packages (dcn)
 * build their plain convs without depending on @deformjs/nn.
 */
export class Conv2d extends Module implements Layer {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | null;
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];

  constructor(
    rng: Rng,
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: number | [number, number],
    options: Conv2dOptions = {},
  ) {
    super();
    const op = 'Conv2d';
    assertInteger(op, 'inChannels', inChannels, 1);
    assertInteger(op, 'outChannels', outChannels, 1);
    const [kh, kw] = pair(op, 'kernelSize', kernelSize);
    this.stride = pair(op, 'stride', options.stride ?? 1);
    this.padding = pair(op, 'padding', options.padding ?? 0, 0);
    this.dilation = pair(op, 'dilation', options.dilation ?? 1);
    const fanIn = inChannels * kh * kw;
    const shape = [kh, kw, inChannels, outChannels];
    const init = options.init ?? 'torch';
    const weight = {
      torch: () => torchDefaultUniform(rng, shape, fanIn),
      'kaiming-fan-out': () => kaimingNormalFanOut(rng, shape, outChannels * kh * kw),
      zeros: () => tf.zeros(shape),
    }[init];
    this.weight = this.addParameter('weight', weight(), 'conv2d');
    this.bias =
      options.bias === false
        ? null
        : this.addParameter(
            'bias',
            init === 'torch' ? torchDefaultUniform(rng, [outChannels], fanIn) : tf.zeros([outChannels]),
          );
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const y = conv2dNhwc(x as tf.Tensor4D, this.weight as tf.Tensor4D, this.stride, this.padding, this.dilation);
      return this.bias ? addBias(y, this.bias) : y;
    });
  }
}

/**
 * A differentiable 2-d convolution with symmetric padding, for any dilation. A dilated conv with a stride
 * computes the stride-1 output and keeps every stride-th position (exact, but stride^2 the work): tfjs has no
 * trainable dilated strided conv, and the layers that need one (a deformable conv's offset branch) are small.
 * `depthwise`: the filter is [kh, kw, C, multiplier] and each channel is convolved alone (tf.depthwiseConv2d,
 * PyTorch's groups = C), through the same space-to-batch route when dilated (tfjs's depthwise gradient
 * refuses dilation > 1 too).
 */
export function conv2dNhwc(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  stride: [number, number],
  padding: [number, number],
  dilation: [number, number],
  depthwise = false,
): tf.Tensor4D {
  const conv = depthwise ? tf.depthwiseConv2d : tf.conv2d;
  return tf.tidy(() => {
    const [dh, dw] = dilation;
    const [ph, pw] = padding;
    if (dh === 1 && dw === 1) {
      const pad =
        ph === pw
          ? ph
          : ([
              [0, 0],
              [ph, ph],
              [pw, pw],
              [0, 0],
            ] as Parameters<typeof tf.conv2d>[3]);
      return conv(x, filter, stride, pad);
    }
    const [, h, w] = x.shape;
    const [kh, kw] = filter.shape;
    // Pad each axis to a multiple of its dilation, so every phase of the space-to-batch grid is complete.
    const extraH = (dh - ((h + 2 * ph) % dh)) % dh;
    const extraW = (dw - ((w + 2 * pw) % dw)) % dw;
    convOutputSize('conv2dNhwc', 'x', x.shape, [h, w], [kh, kw], stride, padding, dilation);
    const phases = tf.spaceToBatchND(
      x,
      [dh, dw],
      [
        [ph, ph + extraH],
        [pw, pw + extraW],
      ],
    );
    const y = conv(phases as tf.Tensor4D, filter, 1, 'valid');
    const dense = tf.batchToSpaceND(
      y,
      [dh, dw],
      [
        [0, extraH],
        [0, extraW],
      ],
    ) as tf.Tensor4D;
    if (stride[0] === 1 && stride[1] === 1) return dense;
    // Every stride-th row and column, through pad + reshape + slice (tfjs has no StridedSlice gradient).
    const [n, hd, wd, c] = dense.shape;
    const [sh, sw] = stride;
    const ho = Math.floor((hd - 1) / sh) + 1;
    const wo = Math.floor((wd - 1) / sw) + 1;
    const padded = tf.pad(dense, [
      [0, 0],
      [0, ho * sh - hd],
      [0, wo * sw - wd],
      [0, 0],
    ]);
    const grid = tf.reshape(padded, [n, ho, sh, wo, sw, c]);
    return tf.reshape(tf.slice(grid, [0, 0, 0, 0, 0, 0], [n, ho, 1, wo, 1, c]), [n, ho, wo, c]) as tf.Tensor4D;
  });
}

/**
 * Where a residual block's 3x3 convolution sits: what `@deformjs/nn`'s ResNet hands its `conv3x3` factory, so
 * that a stage can use another conv (dcn's deformable 3x3s) without nn depending on the package that makes it.
 */
export interface Conv3x3Context {
  rng: Rng;
  /** 1..4 for layer1..layer4 (C2..C5). */
  stage: number;
  /** Index of the block within its stage. */
  block: number;
  inChannels: number;
  outChannels: number;
  stride: number;
  dilation: number;
}

/** Builds a block's 3x3 conv: (in -> out, stride, padding = dilation, no bias). Returns a Layer. */
export type Conv3x3Factory = (context: Conv3x3Context) => Layer;

/** The plain 3x3 conv torchvision uses. */
export const plainConv3x3: Conv3x3Factory = ({ rng, inChannels, outChannels, stride, dilation }) =>
  new Conv2d(rng, inChannels, outChannels, 3, {
    stride,
    padding: dilation,
    dilation,
    bias: false,
    init: 'kaiming-fan-out',
  });
