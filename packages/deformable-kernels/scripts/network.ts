/**
 * The network of the Deformable Kernels experiment (arXiv 1910.02940, at toy scale): a small depthwise-separable
 * classifier whose depthwise 3x3 convs are one of five variants, so the variants are compared with everything
 * else equal. Experiment code: it needs @deformjs/nn, which sits above this package.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Conv2d, Linear, Module, Rng, assertInteger, assertOneOf, checkShapes } from '@deformjs/core';
import { BatchNorm2d, DepthwiseSeparableConv, ModuleList, convNorm, plainDepthwise3x3 } from '@deformjs/nn';
import type { Depthwise3x3Factory } from '@deformjs/nn';
import { DeformKernelConv2d, GlobalDeformKernel2d, LocalDeformKernel2d } from '../src/index';

/**
 * The depthwise 3x3 of every block: the plain conv; Deformable Kernels resampled from a 4x4 scope per output
 * position (local) or per image (global); the official depthwise DCN (image offsets, the kernel itself: scope 3);
 * and DK + DCN (image offsets and kernel deltas, scope 4).
 */
export const DEPTHWISE_VARIANTS = ['depthwise', 'dk-local', 'dk-global', 'dcn', 'dk+dcn'] as const;
export type DepthwiseVariant = (typeof DEPTHWISE_VARIANTS)[number];

/** The scope of the Deformable Kernel variants: the paper's 4x4 behind an effective 3x3 kernel. */
const SCOPE = 4;

export function depthwiseFactory(variant: DepthwiseVariant): Depthwise3x3Factory {
  assertOneOf('depthwiseFactory', 'variant', variant, DEPTHWISE_VARIANTS);
  const common = (rng: Rng, channels: number, stride: number) => ({
    channels,
    kernelSize: 3,
    stride,
    padding: 1,
    rng,
  });
  switch (variant) {
    case 'depthwise':
      return plainDepthwise3x3;
    case 'dk-local':
      return (rng, channels, stride) => new LocalDeformKernel2d({ ...common(rng, channels, stride), scope: SCOPE });
    case 'dk-global':
      return (rng, channels, stride) => new GlobalDeformKernel2d({ ...common(rng, channels, stride), scope: SCOPE });
    case 'dcn':
      return (rng, channels, stride) => new DeformKernelConv2d({ ...common(rng, channels, stride), scope: 3 });
    case 'dk+dcn':
      return (rng, channels, stride) =>
        new DeformKernelConv2d({ ...common(rng, channels, stride), scope: SCOPE, rotationGroups: 1 });
  }
}

export interface ShapesClassifierOptions {
  variant: DepthwiseVariant;
  /** Channels of the stem; the blocks have 2, 2, 4, 4 times as many. Default 16. */
  width?: number;
  classes?: number;
  seed?: number;
}

/**
 * stem (3x3 conv, stride 1) -> 4 depthwise-separable blocks (strides 2, 1, 2, 1) -> global average pool ->
 * linear. On a 32x32 crop the last feature map is 8x8, and its theoretical receptive field is 21x21 pixels.
 */
export class ShapesClassifier extends Module {
  readonly variant: DepthwiseVariant;
  readonly stem: Conv2d;
  readonly stemNorm: BatchNorm2d;
  readonly blocks: DepthwiseSeparableConv[];
  readonly fc: Linear;

  constructor(options: ShapesClassifierOptions) {
    super();
    const op = 'ShapesClassifier';
    this.variant = assertOneOf(op, 'variant', options.variant, DEPTHWISE_VARIANTS);
    const width = assertInteger(op, 'width', options.width ?? 16, 1);
    const classes = assertInteger(op, 'classes', options.classes ?? 5, 2);
    const rng = new Rng(assertInteger(op, 'seed', options.seed ?? 0, 0));
    const depthwise = depthwiseFactory(this.variant);
    this.stem = this.addModule('stem', new Conv2d(rng, 3, width, 3, { padding: 1, bias: false }));
    this.stemNorm = this.addModule('stem_norm', new BatchNorm2d(width));
    const plan: Array<[number, number]> = [
      [2, 2],
      [2, 1],
      [4, 2],
      [4, 1],
    ];
    const blocks = this.addModule('blocks', new ModuleList());
    let inChannels = width;
    this.blocks = plan.map(([multiple, stride], i) => {
      const block = new DepthwiseSeparableConv(rng, inChannels, multiple * width, stride, 'batch', depthwise);
      inChannels = multiple * width;
      return blocks.add(String(i), block);
    });
    this.fc = this.addModule('fc', new Linear(rng, inChannels, classes));
  }

  /** images [N, H, W, 3] -> the last feature map [N, H/4, W/4, 4 * width]. */
  features(images: tf.Tensor): tf.Tensor4D {
    checkShapes('ShapesClassifier', [{ name: 'images', shape: images.shape, expected: ['N', 'H', 'W', 3] }]);
    return tf.tidy(() => {
      let x = convNorm(this.stem, this.stemNorm, images, true);
      for (const block of this.blocks) x = block.forward(x);
      return x as tf.Tensor4D;
    });
  }

  /** images [N, H, W, 3] -> class logits [N, classes]. */
  forward(images: tf.Tensor): tf.Tensor2D {
    return tf.tidy(() => this.fc.forward(tf.mean(this.features(images), [1, 2])) as tf.Tensor2D);
  }
}
