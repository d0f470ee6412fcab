import * as tf from '@tensorflow/tfjs-core';
import {
  Conv2d,
  Linear,
  Module,
  argumentError,
  assertInteger,
  assertOneOf,
  checkShapes,
  convOutputSize,
  pair,
  plainConv3x3,
  torchDefaultUniform,
} from '@deformjs/core';
import type { ConvAttributes, Conv3x3Factory, Rng } from '@deformjs/core';
import { deformConv2d } from './deform_conv2d';
import { deformRoIPool } from './deform_roi_pool';

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

/** A deformable conv layer's resolved attributes. */
interface DeformConvAttrs extends ConvAttributes {
  kernel: [number, number];
  groups: number;
  deformGroups: number;
}

function resolveAttrs(
  layer: string,
  inChannels: number,
  outChannels: number,
  kernelSize: number | [number, number],
  options: DeformConvLayerOptions,
): DeformConvAttrs {
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
 * The shared body of the two layers: the main weight (HWIO, mmcv's init: U(-1/sqrt(n), 1/sqrt(n)) with
 * n = inChannels * kh * kw), an optional zero bias, and `conv_offset`, the zero-initialised plain conv (with the
 * main conv's kernel, stride, padding and dilation, and a bias) that predicts the
 * `offsetChannelsPerTap * deformGroups * kh * kw` offset (and mask) channels from the layer's input.
 */
abstract class DeformConvLayer extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | null;
  readonly convOffset: Conv2d;
  protected readonly attrs: DeformConvAttrs;
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
    this.attrs = resolveAttrs(layer, inChannels, outChannels, kernelSize, options);
    const [kh, kw] = this.attrs.kernel;
    this.weight = this.addParameter(
      'weight',
      torchDefaultUniform(rng, [kh, kw, inChannels / this.attrs.groups, outChannels], inChannels * kh * kw),
      'conv2d',
    );
    this.bias = options.bias === false ? null : this.addParameter('bias', tf.zeros([outChannels]));
    const { stride, padding, dilation, deformGroups } = this.attrs;
    this.convOffset = this.addModule(
      'conv_offset',
      new Conv2d(rng, inChannels, offsetChannelsPerTap * deformGroups * kh * kw, [kh, kw], {
        stride,
        padding,
        dilation,
        init: 'zeros',
      }),
    );
  }

  /** Checks the input before the offset branch sees it, so a bad input is reported in the layer's terms. */
  protected checkInput(x: tf.Tensor4D): void {
    if (!(x instanceof tf.Tensor)) throw argumentError(this.layer, 'x', 'a tensor', x);
    const { H, W } = checkShapes(this.layer, [
      { name: 'x', shape: x.shape, expected: ['N', 'H', 'W', this.inChannels] },
    ]);
    const { kernel, stride, padding, dilation } = this.attrs;
    const actual = `shape [${x.shape.join(', ')}], padding [${padding.join(', ')}]`;
    convOutputSize(this.layer, 'x', actual, [H, W], kernel, stride, padding, dilation);
  }

  protected convolve(x: tf.Tensor4D, offset: tf.Tensor, mask: tf.Tensor | null): tf.Tensor4D {
    const { stride, padding, dilation, groups, deformGroups } = this.attrs;
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
    return tf.tidy(() => {
      const { offset, mask } = this.offsetAndMask(x);
      return this.convolve(x, offset, mask);
    });
  }

  /**
   * The offset-and-mask branch alone: offset [N, Ho, Wo, 2*G*kh*kw] ((dy, dx) per tap, deformConv2d's order) and
   * mask [N, Ho, Wo, G*kh*kw] in (0, 1). What a view of the layer's sampling points reads.
   */
  offsetAndMask(x: tf.Tensor4D): { offset: tf.Tensor4D; mask: tf.Tensor4D } {
    this.checkInput(x);
    return tf.tidy(() => {
      const offsetAndMask = this.convOffset.forward(x) as tf.Tensor4D;
      const gk = offsetAndMask.shape[3] / 3;
      const [offset, logits] = tf.split(offsetAndMask, [2 * gk, gk], 3);
      return { offset, mask: tf.sigmoid(logits) };
    }) as { offset: tf.Tensor4D; mask: tf.Tensor4D };
  }
}

/** A ResNet feature level whose blocks take deformable 3x3 convs (C3 is layer2, ..., C5 is layer4). */
export type DeformStage = 'C2' | 'C3' | 'C4' | 'C5';

export interface DeformConv3x3Options {
  /** Levels whose 3x3 convs are deformable (default mmdet's c3-c5); the others keep torchvision's plain conv. */
  stages?: DeformStage[];
  /** 1: DeformConv2d (mmdet's 'DCN'), 2: ModulatedDeformConv2d (mmdet's 'DCNv2', default). */
  version?: 1 | 2;
  /** Offset groups (mmdet's deform_groups: 1 or 4 in its configs); must divide each block's width. */
  deformGroups?: number;
}

/**
 * The `conv3x3` factory of `@deformjs/nn`'s ResNet for a DCN backbone, as mmdet's ResNet with `dcn=dict(type=
 * 'DCNv2', deform_groups=1)` and `stage_with_dcn=(False, True, True, True)`: `resnet({ depth: 50, conv3x3:
 * deformConv3x3({ stages: ['C3', 'C4', 'C5'] }) })`. State_dict keys are mmdet's (`layer2.0.conv2.weight`,
 * `layer2.0.conv2.conv_offset.weight`, `layer2.0.conv2.conv_offset.bias`); the deformable convs have no bias.
 */
export function deformConv3x3(options: DeformConv3x3Options = {}): Conv3x3Factory {
  const op = 'deformConv3x3';
  const stages = options.stages ?? ['C3', 'C4', 'C5'];
  for (const stage of stages) assertOneOf(op, 'stages', stage, ['C2', 'C3', 'C4', 'C5']);
  const version = assertOneOf(op, 'version', options.version ?? 2, [1, 2]);
  const deformGroups = assertInteger(op, 'deformGroups', options.deformGroups ?? 1, 1);
  const Layer = version === 1 ? DeformConv2d : ModulatedDeformConv2d;
  return (context) => {
    const { rng, stage, inChannels, outChannels, stride, dilation } = context;
    if (!stages.includes(`C${stage + 1}` as DeformStage)) return plainConv3x3(context);
    return new Layer(rng, inChannels, outChannels, 3, {
      stride,
      padding: dilation,
      dilation,
      deformGroups,
      bias: false,
    });
  };
}

/** nn.Sequential of Linear and ReLU, children named by position ('0', '2', ...) as in a PyTorch state_dict. */
class LinearStack extends Module {
  private readonly layers: Linear[] = [];

  /** `sizes` [in, hidden..., out]: a ReLU between consecutive Linears; the last Linear zero-initialised. */
  constructor(rng: Rng, sizes: number[]) {
    super();
    for (let i = 0; i + 1 < sizes.length; i++) {
      const [inFeatures, outFeatures] = [sizes[i], sizes[i + 1]];
      const zeroInit = i + 2 === sizes.length;
      const init = zeroInit
        ? { weight: tf.zeros([inFeatures, outFeatures]), bias: tf.zeros([outFeatures]) }
        : undefined;
      this.layers.push(this.addModule(String(2 * i), new Linear(rng, inFeatures, outFeatures, { init })));
    }
  }

  forward(x: tf.Tensor2D): tf.Tensor2D {
    return this.layers.reduce<tf.Tensor>((h, layer, i) => layer.forward(i === 0 ? h : tf.relu(h)), x) as tf.Tensor2D;
  }
}

export interface ModulatedDeformRoIPoolPackOptions {
  outputSize?: number | [number, number];
  /** Channels C of the pooled feature map. */
  outputChannels: number;
  spatialScale?: number;
  samplingRatio?: number;
  gamma?: number;
  /** Width of the offset and mask branches' hidden layers (mmcv's deform_fc_channels). */
  deformFcChannels?: number;
}

/**
 * mmcv's ModulatedDeformRoIPoolPack, NHWC: pool each RoI plainly, predict per-bin offsets with `offset_fc`
 * (Linear(ph*pw*C, 1024)-ReLU-Linear(1024, 1024)-ReLU-Linear(1024, ph*pw*2), the last zero-initialised) and
 * masks with `mask_fc` (Linear(ph*pw*C, 1024)-ReLU-Linear(1024, ph*pw), zero-initialised, then sigmoid), pool
 * again with the offsets and multiply by the mask. State_dict keys and layouts are mmcv's (offset_fc.0.weight,
 * ..., mask_fc.2.bias); the pooled features are flattened in PyTorch's (C, ph, pw) order so its weights load
 * unchanged. At initialisation the offsets are 0 and the mask 0.5.
 */
export class ModulatedDeformRoIPoolPack extends Module {
  readonly offsetFc: LinearStack;
  readonly maskFc: LinearStack;
  private readonly outputSize: [number, number];
  private readonly outputChannels: number;
  private readonly pool: { spatialScale: number; samplingRatio: number; gamma: number };

  constructor(rng: Rng, options: ModulatedDeformRoIPoolPackOptions) {
    super();
    const layer = 'ModulatedDeformRoIPoolPack';
    this.outputSize = pair(layer, 'outputSize', options.outputSize ?? 7);
    this.outputChannels = assertInteger(layer, 'outputChannels', options.outputChannels, 1);
    const hidden = assertInteger(layer, 'deformFcChannels', options.deformFcChannels ?? 1024, 1);
    this.pool = {
      spatialScale: options.spatialScale ?? 1,
      samplingRatio: options.samplingRatio ?? 0,
      gamma: options.gamma ?? 0.1,
    };
    const bins = this.outputSize[0] * this.outputSize[1];
    const features = bins * this.outputChannels;
    this.offsetFc = this.addModule('offset_fc', new LinearStack(rng, [features, hidden, hidden, bins * 2]));
    this.maskFc = this.addModule('mask_fc', new LinearStack(rng, [features, hidden, bins]));
  }

  /** input [N, H, W, C], rois [R, 5] (batch index, x1, y1, x2, y2) -> [R, ph, pw, C]. */
  forward(input: tf.Tensor4D, rois: tf.Tensor2D): tf.Tensor4D {
    if (!(input instanceof tf.Tensor)) throw argumentError('ModulatedDeformRoIPoolPack', 'input', 'a tensor', input);
    checkShapes('ModulatedDeformRoIPoolPack', [
      { name: 'input', shape: input.shape, expected: ['N', 'H', 'W', this.outputChannels] },
    ]);
    const [ph, pw] = this.outputSize;
    return tf.tidy(() => {
      const plain = deformRoIPool(input, rois, { ...this.pool, outputSize: this.outputSize });
      const R = plain.shape[0];
      const flat = tf.reshape(tf.transpose(plain, [0, 3, 1, 2]), [R, this.outputChannels * ph * pw]) as tf.Tensor2D;
      const offset = tf.transpose(tf.reshape(this.offsetFc.forward(flat), [R, 2, ph, pw]), [0, 2, 3, 1]);
      const mask = tf.reshape(tf.sigmoid(this.maskFc.forward(flat)), [R, ph, pw, 1]);
      return deformRoIPool(input, rois, { ...this.pool, outputSize: this.outputSize, offset, mask });
    });
  }
}
