import * as tf from '@tensorflow/tfjs-core';
import {
  Conv2d,
  Module,
  Rng,
  assertOneOf,
  argumentError,
  plainConv3x3,
  type Conv3x3Context,
  type Conv3x3Factory,
  type Layer,
} from '@deformjs/core';
import { Sequential, convNorm } from './layers';
import { makeNorm, normKind, type NormKind } from './norms';

/** The 3x3-conv extension point is core's, so the packages that plug into it (dcn) need not depend on nn. */
export { plainConv3x3 };
export type { Conv3x3Context, Conv3x3Factory };

export type FeatureName = 'C2' | 'C3' | 'C4' | 'C5';

export interface ResNetOptions {
  depth?: 18 | 34 | 50 | 101;
  /** Channels of the stem and of layer1's 3x3 convs (torchvision: 64). Stages use width x 1, 2, 4, 8. */
  width?: number;
  /** 'batch' (trainable BatchNorm2d, default), 'frozen' (FrozenBatchNorm2d: DETR's backbones) or 'instance' (`NormKind`). */
  norm?: NormKind;
  /** Which feature maps `forward` returns (default all four). */
  returnFeatures?: FeatureName[];
  /** Replaces layer4's stride by dilation 2 (output stride 16, as DeepLab); torchvision's replace_stride_with_dilation[2]. */
  dilateLastStage?: boolean;
  /**
   * The 3x3 conv of every block, per stage: the extension point for deformable convs (default: plainConv3x3).
   * `@deformjs/dcn`'s `deformConv3x3({ stages: ['C3', 'C4', 'C5'] })` is mmdet's "mdconv c3-c5".
   */
  conv3x3?: Conv3x3Factory;
  seed?: number;
}

type NormFactory = (channels: number) => Layer;

class BasicBlock extends Module {
  static readonly expansion = 1;
  readonly conv1: Layer;
  readonly bn1: Layer;
  readonly conv2: Layer;
  readonly bn2: Layer;
  readonly downsample: Sequential | null;

  constructor(
    ctx: Conv3x3Context,
    norm: NormFactory,
    conv3x3: Conv3x3Factory,
    downsample: Sequential | null,
    previousDilation: number,
  ) {
    super();
    const { inChannels, outChannels: planes } = ctx;
    this.conv1 = this.addModule(
      'conv1',
      conv3x3({ ...ctx, inChannels, outChannels: planes, dilation: previousDilation }),
    );
    this.bn1 = this.addModule('bn1', norm(planes));
    this.conv2 = this.addModule('conv2', conv3x3({ ...ctx, inChannels: planes, outChannels: planes, stride: 1 }));
    this.bn2 = this.addModule('bn2', norm(planes));
    this.downsample = downsample ? this.addModule('downsample', downsample) : null;
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const out = convNorm(this.conv2, this.bn2, convNorm(this.conv1, this.bn1, x, true), false);
      return tf.relu(tf.add(out, shortcut(this.downsample, x)));
    });
  }
}

class Bottleneck extends Module {
  static readonly expansion = 4;
  readonly conv1: Layer;
  readonly bn1: Layer;
  readonly conv2: Layer;
  readonly bn2: Layer;
  readonly conv3: Layer;
  readonly bn3: Layer;
  readonly downsample: Sequential | null;

  constructor(
    ctx: Conv3x3Context,
    norm: NormFactory,
    conv3x3: Conv3x3Factory,
    downsample: Sequential | null,
    previousDilation: number,
  ) {
    super();
    const { rng, inChannels, outChannels: planes } = ctx;
    this.conv1 = this.addModule(
      'conv1',
      new Conv2d(rng, inChannels, planes, 1, { bias: false, init: 'kaiming-fan-out' }),
    );
    this.bn1 = this.addModule('bn1', norm(planes));
    // torchvision's ResNet v1.5: the stride sits on the 3x3 conv.
    this.conv2 = this.addModule(
      'conv2',
      conv3x3({ ...ctx, inChannels: planes, outChannels: planes, dilation: previousDilation }),
    );
    this.bn2 = this.addModule('bn2', norm(planes));
    this.conv3 = this.addModule(
      'conv3',
      new Conv2d(rng, planes, planes * 4, 1, { bias: false, init: 'kaiming-fan-out' }),
    );
    this.bn3 = this.addModule('bn3', norm(planes * 4));
    this.downsample = downsample ? this.addModule('downsample', downsample) : null;
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      let out = convNorm(this.conv1, this.bn1, x, true);
      out = convNorm(this.conv2, this.bn2, out, true);
      out = convNorm(this.conv3, this.bn3, out, false);
      return tf.relu(tf.add(out, shortcut(this.downsample, x)));
    });
  }
}

function shortcut(downsample: Sequential | null, x: tf.Tensor): tf.Tensor {
  return downsample ? convNorm(downsample.layers[0], downsample.layers[1], x, false) : x;
}

class Stage extends Module {
  readonly blocks: Array<BasicBlock | Bottleneck>;
  constructor(blocks: Array<BasicBlock | Bottleneck>) {
    super();
    this.blocks = blocks.map((b, i) => this.addModule(String(i), b));
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.blocks.reduce((h, b) => b.forward(h), x));
  }
}

const BLOCKS: Record<number, { bottleneck: boolean; counts: number[] }> = {
  18: { bottleneck: false, counts: [2, 2, 2, 2] },
  34: { bottleneck: false, counts: [3, 4, 6, 3] },
  50: { bottleneck: true, counts: [3, 4, 6, 3] },
  101: { bottleneck: true, counts: [3, 4, 23, 3] },
};

/**
 * torchvision's ResNet as a backbone on NHWC images, with its state_dict names (conv1, bn1, layer1.0.conv1,
 * layer1.0.downsample.0, ...), so torchvision and DETR checkpoints load key for key (drop `fc.*`).
 * `forward` returns the requested feature maps C2..C5 (strides 4, 8, 16, 32).
 */
export class ResNet extends Module {
  readonly conv1: Conv2d;
  readonly bn1: Layer;
  readonly stages: Stage[];
  /** Output channels of C2..C5. */
  readonly channels: Record<FeatureName, number>;
  readonly strides: Record<FeatureName, number>;
  readonly returnFeatures: FeatureName[];

  constructor(options: ResNetOptions = {}) {
    super();
    const depth = assertOneOf('ResNet', 'depth', options.depth ?? 50, [18, 34, 50, 101]);
    const width = options.width ?? 64;
    if (!Number.isInteger(width) || width < 1) throw argumentError('ResNet', 'width', 'a positive integer', width);
    const kind = normKind('ResNet', options.norm);
    const norm: NormFactory = (c) => makeNorm(kind, c);
    const conv3x3 = options.conv3x3 ?? plainConv3x3;
    this.returnFeatures = options.returnFeatures ?? ['C2', 'C3', 'C4', 'C5'];
    for (const f of this.returnFeatures) assertOneOf('ResNet', 'returnFeatures', f, ['C2', 'C3', 'C4', 'C5']);
    const rng = new Rng(options.seed ?? 0);
    const { bottleneck, counts } = BLOCKS[depth];
    const expansion = bottleneck ? 4 : 1;

    this.conv1 = this.addModule(
      'conv1',
      new Conv2d(rng, 3, width, 7, { stride: 2, padding: 3, bias: false, init: 'kaiming-fan-out' }),
    );
    this.bn1 = this.addModule('bn1', norm(width));
    let inChannels = width;
    let dilation = 1;
    this.stages = [];
    const names: FeatureName[] = ['C2', 'C3', 'C4', 'C5'];
    this.channels = {} as Record<FeatureName, number>;
    this.strides = {} as Record<FeatureName, number>;
    let stride = 4;
    for (let s = 0; s < 4; s++) {
      const planes = width * 2 ** s;
      let blockStride = s === 0 ? 1 : 2;
      const previousDilation = dilation;
      if (s === 3 && options.dilateLastStage) {
        dilation *= blockStride;
        blockStride = 1;
      }
      stride *= blockStride;
      const blocks: Array<BasicBlock | Bottleneck> = [];
      for (let b = 0; b < counts[s]; b++) {
        const first = b === 0;
        const ctx: Conv3x3Context = {
          rng,
          stage: s + 1,
          block: b,
          inChannels,
          outChannels: planes,
          stride: first ? blockStride : 1,
          dilation,
        };
        let downsample: Sequential | null = null;
        if (first && (blockStride !== 1 || inChannels !== planes * expansion)) {
          downsample = new Sequential(
            new Conv2d(rng, inChannels, planes * expansion, 1, {
              stride: blockStride,
              bias: false,
              init: 'kaiming-fan-out',
            }),
            norm(planes * expansion),
          );
        }
        const Block = bottleneck ? Bottleneck : BasicBlock;
        blocks.push(new Block(ctx, norm, conv3x3, downsample, first ? previousDilation : dilation));
        inChannels = planes * expansion;
      }
      this.stages.push(this.addModule(`layer${s + 1}`, new Stage(blocks)));
      this.channels[names[s]] = inChannels;
      this.strides[names[s]] = stride;
    }
  }

  /** NHWC images [N, H, W, 3] -> the requested feature maps. */
  forward(images: tf.Tensor): Partial<Record<FeatureName, tf.Tensor>> {
    const last = Math.max(...this.returnFeatures.map((f) => Number(f[1]) - 2));
    return tf.tidy(() => {
      let x = convNorm(this.conv1, this.bn1, images, true);
      x = tf.maxPool(x as tf.Tensor4D, 3, 2, 1);
      const out: Partial<Record<FeatureName, tf.Tensor>> = {};
      for (let s = 0; s <= last; s++) {
        x = this.stages[s].forward(x);
        const name = `C${s + 2}` as FeatureName;
        if (this.returnFeatures.includes(name)) out[name] = x;
      }
      return out;
    });
  }
}

/** A ResNet backbone (`new ResNet(options)`), e.g. `resnet({ depth: 18, width: 16, norm: 'frozen' })`. */
export function resnet(options: ResNetOptions = {}): ResNet {
  return new ResNet(options);
}
