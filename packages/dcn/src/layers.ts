import * as tf from '@tensorflow/tfjs-core';
import { Module, argumentError, assertInteger, checkShapes, pair, torchDefaultUniform, addBias } from '@deformjs/core';
import type { Rng } from '@deformjs/core';
import { deformConv2d } from './deform_conv2d';

/** The constructor arguments of a conv layer, in PyTorch's names. */
export interface DeformConvLayerOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
  /** Weight groups. */
  groups?: number;
  /** Offset ("deformable") groups G: channel c uses the offsets of group c / (C/G). */
  deformGroups?: number;
  /** Learn a bias (default true, as mmcv's ModulatedDeformConv2dPack). */
  bias?: boolean;
}

interface ConvGeometry {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  groups: number;
  deformGroups: number;
}

function resolveGeometry(
  layer: string,
  inChannels: number,
  outChannels: number,
  kernelSize: number | [number, number],
  options: DeformConvLayerOptions,
): ConvGeometry {
  assertInteger(layer, 'inChannels', inChannels, 1);
  assertInteger(layer, 'outChannels', outChannels, 1);
  const kernel = pair(layer, 'kernelSize', kernelSize);
  const stride = pair(layer, 'stride', options.stride ?? 1);
  const padding = pair(layer, 'padding', options.padding ?? 0, 0);
  const dilation = pair(layer, 'dilation', options.dilation ?? 1);
  const groups = assertInteger(layer, 'groups', options.groups ?? 1, 1);
  const deformGroups = assertInteger(layer, 'deformGroups', options.deformGroups ?? 1, 1);
  if (inChannels % groups !== 0 || outChannels % groups !== 0) {
    throw argumentError(
      layer,
      'groups',
      `a positive integer dividing inChannels = ${inChannels} and outChannels = ${outChannels}`,
      groups,
    );
  }
  if (inChannels % deformGroups !== 0)
    throw argumentError(layer, 'deformGroups', `a positive integer dividing inChannels = ${inChannels}`, deformGroups);
  return { kernel, stride, padding, dilation, groups, deformGroups };
}

/**
 * The zero-initialised plain conv that predicts offsets (and masks) from the layer's input: mmcv's
 * `conv_offset`, an nn.Conv2d with the main conv's kernel, stride, padding and dilation and a bias.
 */
class OffsetConv2d extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;

  constructor(
    inChannels: number,
    outChannels: number,
    private readonly geometry: ConvGeometry,
  ) {
    super();
    const [kh, kw] = geometry.kernel;
    this.weight = this.addParameter('weight', tf.zeros([kh, kw, inChannels, outChannels]), 'conv2d');
    this.bias = this.addParameter('bias', tf.zeros([outChannels]));
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    const { stride, padding, dilation } = this.geometry;
    return tf.tidy(() => {
      if (dilation[0] === 1 && dilation[1] === 1) {
        const pad: [[number, number], [number, number], [number, number], [number, number]] = [
          [0, 0],
          [padding[0], padding[0]],
          [padding[1], padding[1]],
          [0, 0],
        ];
        return addBias(tf.conv2d(x, this.weight as tf.Tensor4D, stride, pad), this.bias);
      }
      // tfjs's Conv2D gradient rejects dilations > 1; a deformable conv with zero offsets is the same conv and
      // differentiable for any dilation.
      const [N, H, W] = x.shape;
      const [kh, kw] = this.geometry.kernel;
      const Ho = Math.floor((H + 2 * padding[0] - (dilation[0] * (kh - 1) + 1)) / stride[0]) + 1;
      const Wo = Math.floor((W + 2 * padding[1] - (dilation[1] * (kw - 1) + 1)) / stride[1]) + 1;
      const offset = tf.zeros([N, Ho, Wo, 2 * kh * kw]);
      return deformConv2d(x, offset, this.weight, {
        bias: this.bias,
        strides: stride,
        pad: padding,
        dilations: dilation,
      });
    });
  }
}

/**
 * The shared body of the two layers: the main weight (HWIO, mmcv's init: U(-1/sqrt(n), 1/sqrt(n)) with
 * n = inChannels * kh * kw), an optional zero bias, and a zero-initialised `conv_offset` with
 * `offsetChannelsPerTap * deformGroups * kh * kw` outputs.
 */
abstract class DeformConvLayer extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | null;
  readonly convOffset: OffsetConv2d;
  protected readonly geometry: ConvGeometry;
  private readonly layer: string;
  private readonly inChannels: number;

  protected constructor(
    layer: string,
    rng: Rng,
    inChannels: number,
    outChannels: number,
    kernelSize: number | [number, number],
    options: DeformConvLayerOptions,
    offsetChannelsPerTap: number,
  ) {
    super();
    this.layer = layer;
    this.inChannels = inChannels;
    this.geometry = resolveGeometry(layer, inChannels, outChannels, kernelSize, options);
    const [kh, kw] = this.geometry.kernel;
    this.weight = this.addParameter(
      'weight',
      torchDefaultUniform(rng, [kh, kw, inChannels / this.geometry.groups, outChannels], inChannels * kh * kw),
      'conv2d',
    );
    this.bias = options.bias === false ? null : this.addParameter('bias', tf.zeros([outChannels]));
    this.convOffset = this.addModule(
      'conv_offset',
      new OffsetConv2d(inChannels, offsetChannelsPerTap * this.geometry.deformGroups * kh * kw, this.geometry),
    );
  }

  /** Checks the input before the offset branch sees it, so a bad input is reported in the layer's terms. */
  protected checkInput(x: tf.Tensor4D): void {
    if (!(x instanceof tf.Tensor)) throw argumentError(this.layer, 'x', 'a tensor', x);
    const { H, W } = checkShapes(this.layer, [
      { name: 'x', shape: x.shape, expected: ['N', 'H', 'W', this.inChannels] },
    ]);
    const { kernel, padding, dilation } = this.geometry;
    const extent = [dilation[0] * (kernel[0] - 1) + 1, dilation[1] * (kernel[1] - 1) + 1];
    if (H + 2 * padding[0] < extent[0] || W + 2 * padding[1] < extent[1]) {
      throw argumentError(
        this.layer,
        'x',
        `a padded size of at least the dilated kernel ${extent[0]} x ${extent[1]}`,
        `${H + 2 * padding[0]} x ${W + 2 * padding[1]} (shape [${x.shape.join(', ')}], padding [${padding.join(', ')}])`,
      );
    }
  }

  protected convolve(x: tf.Tensor4D, offset: tf.Tensor, mask: tf.Tensor | null): tf.Tensor4D {
    const { stride, padding, dilation, groups, deformGroups } = this.geometry;
    return deformConv2d(x, offset, this.weight, {
      mask,
      bias: this.bias,
      strides: stride,
      pad: padding,
      dilations: dilation,
      groups,
      offsetGroups: deformGroups,
    });
  }

  abstract forward(x: tf.Tensor4D): tf.Tensor4D;
}

/**
 * Deformable convolution v1 with its offset branch (mmcv's DeformConv2dPack; state_dict keys weight, bias,
 * conv_offset.weight, conv_offset.bias). The offsets start at zero, so a new layer is a plain conv. NHWC.
 */
export class DeformConv2d extends DeformConvLayer {
  constructor(
    rng: Rng,
    inChannels: number,
    outChannels: number,
    kernelSize: number | [number, number],
    options: DeformConvLayerOptions = {},
  ) {
    super('DeformConv2d', rng, inChannels, outChannels, kernelSize, options, 2);
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    this.checkInput(x);
    return tf.tidy(() => this.convolve(x, this.convOffset.forward(x), null));
  }
}

/**
 * Modulated deformable convolution (DCNv2) with its offset-and-mask branch (mmcv's ModulatedDeformConv2dPack;
 * same keys as DeformConv2d). `conv_offset` has 3*G*kh*kw outputs split into o1, o2, m: offset = cat(o1, o2),
 * mask = sigmoid(m). At initialisation the offsets are 0 and the mask 0.5: half the plain conv. NHWC.
 */
export class ModulatedDeformConv2d extends DeformConvLayer {
  constructor(
    rng: Rng,
    inChannels: number,
    outChannels: number,
    kernelSize: number | [number, number],
    options: DeformConvLayerOptions = {},
  ) {
    super('ModulatedDeformConv2d', rng, inChannels, outChannels, kernelSize, options, 3);
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    this.checkInput(x);
    return tf.tidy(() => {
      const offsetAndMask = this.convOffset.forward(x);
      const gk = offsetAndMask.shape[3] / 3;
      const [offset, logits] = tf.split(offsetAndMask, [2 * gk, gk], 3);
      return this.convolve(x, offset, tf.sigmoid(logits));
    });
  }
}
