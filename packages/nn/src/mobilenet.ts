import * as tf from '@tensorflow/tfjs-core';
import { Conv2d, Module, Rng, argumentError, assertInteger, type Layer } from '@deformjs/core';
import { DepthwiseConv2d } from './conv';
import { ModuleList, convNorm } from './layers';
import { makeNorm, normKind, type NormKind } from './norms';
import type { FeatureName } from './resnet';

/**
 * Makes the depthwise 3x3 of a depthwise-separable block (channels in = out, padding 1, the block's stride), so a
 * block can take another depthwise layer, such as a Deformable Kernel, in place of the plain one.
 */
export type Depthwise3x3Factory = (rng: Rng, channels: number, stride: number) => Module & Layer;

/** MobileNet's plain depthwise 3x3, without bias (a norm follows). */
export const plainDepthwise3x3: Depthwise3x3Factory = (rng, channels, stride) =>
  new DepthwiseConv2d(rng, channels, 3, { stride, padding: 1, bias: false });

/**
 * MobileNet's depthwise-separable conv: depthwise 3x3 (stride, padding 1) -> norm -> ReLU -> pointwise 1x1 ->
 * norm -> ReLU, registered as nn.Sequential(dw, bn, ReLU, pw, bn, ReLU) would name them: `0`, `1`, `3`, `4`.
 * `depthwise` makes the first layer (default the plain depthwise conv).
 */
export class DepthwiseSeparableConv extends Module implements Layer {
  readonly depthwise: Module & Layer;
  readonly depthwiseNorm: Layer;
  readonly pointwise: Conv2d;
  readonly pointwiseNorm: Layer;

  constructor(
    rng: Rng,
    inChannels: number,
    outChannels: number,
    stride = 1,
    norm: NormKind = 'batch',
    depthwise: Depthwise3x3Factory = plainDepthwise3x3,
  ) {
    super();
    this.depthwise = this.addModule('0', depthwise(rng, inChannels, stride));
    this.depthwiseNorm = this.addModule('1', makeNorm(norm, inChannels));
    this.pointwise = this.addModule('3', new Conv2d(rng, inChannels, outChannels, 1, { bias: false }));
    this.pointwiseNorm = this.addModule('4', makeNorm(norm, outChannels));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() =>
      convNorm(
        this.pointwise,
        this.pointwiseNorm,
        tf.relu(this.depthwiseNorm.forward(this.depthwise.forward(x))),
        true,
      ),
    );
  }
}

/** A plain 3x3 stride-2 conv -> norm -> ReLU: MobileNet's stem (`features.0.0`, `features.0.1`). */
class Stem extends Module implements Layer {
  readonly conv: Conv2d;
  readonly norm: Layer;
  constructor(rng: Rng, outChannels: number, norm: NormKind) {
    super();
    this.conv = this.addModule('0', new Conv2d(rng, 3, outChannels, 3, { stride: 2, padding: 1, bias: false }));
    this.norm = this.addModule('1', makeNorm(norm, outChannels));
  }
  forward(x: tf.Tensor): tf.Tensor {
    return convNorm(this.conv, this.norm, x, true);
  }
}

export interface MobileNetOptions {
  /** Channels of the stem (MobileNet: 32, the width multiplier times 32); the blocks widen 2, 4, 8, 16, 32 times it. */
  width?: number;
  /** How many stride-1 blocks of 16 x width channels at stride 16 (MobileNet: 5). */
  middleBlocks?: number;
  /** 'batch' (trainable BatchNorm2d, default), 'frozen' or 'instance' (see `NormKind`). */
  norm?: NormKind;
  seed?: number;
}

/**
 * MobileNet v1 (Howard et al. 2017) as a backbone on NHWC images: a 3x3 stride-2 stem and 13 depthwise-separable
 * blocks (64, 128/2, 128, 256/2, 256, 512/2, 5 x 512, 1024/2, 1024 at width 32), under `features.i` as
 * torchvision's MobileNets name their layers. `forward` returns C2..C5 (strides 4, 8, 16, 32: the last block of
 * each stride), the same interface as `ResNet`, so an FPN takes either. The light feature network of the mobile
 * video detector (arXiv 1804.05830).
 */
export class MobileNet extends Module {
  readonly blocks: Layer[];
  /** Output channels of C2..C5. */
  readonly channels: Record<FeatureName, number>;
  readonly strides: Record<FeatureName, number> = { C2: 4, C3: 8, C4: 16, C5: 32 };
  /** Index in `blocks` of the last block of each stride. */
  private readonly taps: Record<FeatureName, number>;

  constructor(options: MobileNetOptions = {}) {
    super();
    const width = options.width ?? 32;
    if (!Number.isInteger(width) || width < 1) throw argumentError('MobileNet', 'width', 'a positive integer', width);
    const middle = assertInteger('MobileNet', 'middleBlocks', options.middleBlocks ?? 5, 0);
    const norm = normKind('MobileNet', options.norm);
    const rng = new Rng(options.seed ?? 0);
    // (channels as multiples of width, stride) of each depthwise-separable block.
    const plan: Array<[number, number]> = [
      [2, 1],
      [4, 2],
      [4, 1],
      [8, 2],
      [8, 1],
      [16, 2],
      ...Array.from({ length: middle }, (): [number, number] => [16, 1]),
      [32, 2],
      [32, 1],
    ];
    const features = this.addModule('features', new ModuleList());
    this.blocks = [features.add('0', new Stem(rng, width, norm))];
    let inChannels = width;
    let stride = 2;
    this.channels = {} as Record<FeatureName, number>;
    this.taps = {} as Record<FeatureName, number>;
    const names: Record<number, FeatureName> = { 4: 'C2', 8: 'C3', 16: 'C4', 32: 'C5' };
    plan.forEach(([multiple, s]) => {
      const out = multiple * width;
      this.blocks.push(
        features.add(String(this.blocks.length), new DepthwiseSeparableConv(rng, inChannels, out, s, norm)),
      );
      inChannels = out;
      stride *= s;
      const name = names[stride];
      if (name) {
        this.channels[name] = out;
        this.taps[name] = this.blocks.length - 1;
      }
    });
  }

  /** NHWC images [N, H, W, 3] -> C2..C5. */
  forward(images: tf.Tensor): Record<FeatureName, tf.Tensor> {
    return tf.tidy(() => {
      const out = {} as Record<FeatureName, tf.Tensor>;
      let x = images;
      this.blocks.forEach((block, i) => {
        x = block.forward(x);
        for (const name of Object.keys(this.taps) as FeatureName[]) if (this.taps[name] === i) out[name] = x;
      });
      return out;
    });
  }
}
