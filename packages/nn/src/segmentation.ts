import * as tf from '@tensorflow/tfjs-core';
import { Module, Rng, assertInteger } from '@deformjs/core';
import { BatchNorm2d, Conv2d, Dropout, ModuleList, NoiseSource, ReLU, Sequential, type Layer } from './layers';
import { resizeBilinear } from './interpolate';
import { ResNet, type ResNetOptions } from './resnet';

function convBnRelu(rng: Rng, inChannels: number, outChannels: number, kernel: number, dilation = 1): Sequential {
  const padding = kernel === 1 ? 0 : dilation;
  return new Sequential(
    new Conv2d(rng, inChannels, outChannels, kernel, { padding, dilation, bias: false, init: 'kaiming-fan-out' }),
    new BatchNorm2d(outChannels),
    new ReLU(),
  );
}

/** Global average pooling to 1x1 (nn.AdaptiveAvgPool2d(1)), parameter-free. */
class GlobalAvgPool extends Module implements Layer {
  forward(x: tf.Tensor): tf.Tensor {
    return tf.mean(x, [1, 2], true);
  }
}

/**
 * torchvision's ASPP (DeepLabV3): a 1x1 branch, one 3x3 atrous branch per rate, an image-pooling branch
 * (global average, 1x1 conv, upsampled back), concatenated and projected with dropout 0.5. Names convs.i.*
 * and project.*, as torchvision. The atrous convs are trainable (see Conv2d).
 */
export class ASPP extends Module implements Layer {
  readonly branches: Sequential[];
  readonly project: Sequential;

  constructor(
    rng: Rng,
    inChannels: number,
    atrousRates: number[],
    outChannels = 256,
    noise = new NoiseSource(rng.fork()),
  ) {
    super();
    for (const r of atrousRates) assertInteger('ASPP', 'atrousRates', r, 1);
    const holder = this.addModule('convs', new ModuleList());
    this.branches = [
      convBnRelu(rng, inChannels, outChannels, 1),
      ...atrousRates.map((r) => convBnRelu(rng, inChannels, outChannels, 3, r)),
      new Sequential(
        new GlobalAvgPool(),
        new Conv2d(rng, inChannels, outChannels, 1, { bias: false, init: 'kaiming-fan-out' }),
        new BatchNorm2d(outChannels),
        new ReLU(),
      ),
    ].map((b, i) => holder.add(String(i), b));
    this.project = this.addModule(
      'project',
      new Sequential(
        new Conv2d(rng, this.branches.length * outChannels, outChannels, 1, { bias: false, init: 'kaiming-fan-out' }),
        new BatchNorm2d(outChannels),
        new ReLU(),
        new Dropout(0.5, noise),
      ),
    );
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const size: [number, number] = [x.shape[1]!, x.shape[2]!];
      const outs = this.branches.map((b, i) =>
        i === this.branches.length - 1 ? resizeBilinear(b.forward(x), size) : b.forward(x),
      );
      return this.project.forward(tf.concat(outs, -1));
    });
  }
}

export interface DeepLabV3PlusHeadOptions {
  highChannels: number;
  lowChannels: number;
  numClasses: number;
  atrousRates?: number[];
  asppChannels?: number;
  /** Channels the low-level features are reduced to (DeepLabV3+: 48). */
  lowReducedChannels?: number;
  decoderChannels?: number;
  seed?: number;
  /** The dropout generator (default: a fresh one from `seed`). */
  noise?: NoiseSource;
}

/**
 * The DeepLabV3+ head: ASPP on the high-level features, upsampled (bilinear) to the low-level features'
 * size, concatenated with the low-level features reduced by a 1x1 conv, two 3x3 conv-BN-ReLU and a 1x1
 * classifier. Returns logits at the low-level resolution.
 */
export class DeepLabV3PlusHead extends Module {
  readonly aspp: ASPP;
  readonly lowLevel: Sequential;
  readonly fuse: Sequential;
  readonly classifier: Conv2d;

  constructor(options: DeepLabV3PlusHeadOptions) {
    super();
    const {
      highChannels,
      lowChannels,
      numClasses,
      atrousRates = [6, 12, 18],
      asppChannels = 256,
      lowReducedChannels = 48,
      decoderChannels = 256,
    } = options;
    const rng = new Rng(options.seed ?? 0);
    this.aspp = this.addModule(
      'aspp',
      new ASPP(rng, highChannels, atrousRates, asppChannels, options.noise ?? new NoiseSource(rng.fork())),
    );
    this.lowLevel = this.addModule('low_level', convBnRelu(rng, lowChannels, lowReducedChannels, 1));
    this.fuse = this.addModule(
      'fuse',
      new Sequential(
        convBnRelu(rng, asppChannels + lowReducedChannels, decoderChannels, 3),
        convBnRelu(rng, decoderChannels, decoderChannels, 3),
      ),
    );
    this.classifier = this.addModule('classifier', new Conv2d(rng, decoderChannels, numClasses, 1));
  }

  forward(high: tf.Tensor, low: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const context = resizeBilinear(this.aspp.forward(high), [low.shape[1]!, low.shape[2]!]);
      return this.classifier.forward(this.fuse.forward(tf.concat([context, this.lowLevel.forward(low)], -1)));
    });
  }
}

export interface SegmenterOptions {
  numClasses: number;
  /** ResNet depth (default 18) and base width (default 16: a small, fast model). */
  depth?: ResNetOptions['depth'];
  width?: number;
  /** 16 (default: layer4 dilated) or 32. */
  outputStride?: 16 | 32;
  atrousRates?: number[];
  asppChannels?: number;
  decoderChannels?: number;
  lowReducedChannels?: number;
  seed?: number;
}

/**
 * A small DeepLabV3+ segmenter: a ResNet backbone (C2 low-level, C5 high-level) and the DeepLabV3+ head;
 * `forward(images [N, H, W, 3])` returns logits [N, H, W, numClasses] upsampled to the input size.
 * The defaults (ResNet-18 at width 16, 64 channels in the head, rates 2/4/6 at output stride 16) train on
 * 64-128 px images in minutes on a CPU.
 */
export class Segmenter extends Module {
  readonly backbone: ResNet;
  readonly head: DeepLabV3PlusHead;
  /** The dropout generator: save `noise.rng` in checkpoints and `noise.restore(state)` on resume. */
  readonly noise: NoiseSource;

  constructor(options: SegmenterOptions) {
    super();
    const {
      numClasses,
      depth = 18,
      width = 16,
      outputStride = 16,
      atrousRates = [2, 4, 6],
      asppChannels = 64,
      decoderChannels = 64,
      lowReducedChannels = 24,
      seed = 0,
    } = options;
    assertInteger('Segmenter', 'numClasses', numClasses, 1);
    this.backbone = this.addModule(
      'backbone',
      new ResNet({ depth, width, returnFeatures: ['C2', 'C5'], dilateLastStage: outputStride === 16, seed }),
    );
    const { C2, C5 } = this.backbone.channels;
    this.head = this.addModule(
      'head',
      new DeepLabV3PlusHead({
        highChannels: C5,
        lowChannels: C2,
        numClasses,
        atrousRates,
        asppChannels,
        decoderChannels,
        lowReducedChannels,
        seed: seed + 1,
        noise: (this.noise = new NoiseSource(new Rng(seed + 2))),
      }),
    );
  }

  forward(images: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const { C2, C5 } = this.backbone.forward(images);
      return resizeBilinear(this.head.forward(C5!, C2!), [images.shape[1]!, images.shape[2]!]);
    });
  }
}

/** A small segmenter for quick CPU training (see Segmenter for the defaults). */
export function createSegmenter(options: SegmenterOptions): Segmenter {
  return new Segmenter(options);
}
