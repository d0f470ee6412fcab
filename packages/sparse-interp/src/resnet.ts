import * as tf from '@tensorflow/tfjs-core';
import { Module, Rng, argumentError, assertOneOf } from '@deformjs/core';
import { BatchNorm2d, Conv2d, FrozenBatchNorm2d, convNorm, type FeatureName } from '@deformjs/nn';
import { SparseBottleneck, SparseResLayer, type SparseBottleneckOptions } from './bottleneck';
import { sparsityLoss } from './mask';

export interface SparseResNetOptions extends Omit<SparseBottleneckOptions, 'stride' | 'downsample'> {
  depth?: 50 | 101;
  /** Channels of the stem and of layer1's 3x3 convs (torchvision: 64). */
  width?: number;
  /** The reference's sparse_loss_weight w: `sparsityLoss` scales the summed block losses by w / number of blocks. */
  sparseLossWeight?: number;
  seed?: number;
}

const COUNTS: Record<number, number[]> = { 50: [3, 4, 6, 3], 101: [3, 4, 23, 3] };

/**
 * The reference's SparseResNet backbone (bottleneck depths 50 and 101) on NHWC images: torchvision's stem
 * (conv1, bn1, max pool) and stages layer1..layer4 of `SparseBottleneck`s, with torchvision's state_dict
 * names plus each block's mask convs, samplers and sigmas. `forwardWithLoss` returns C2..C5 (strides 4..32)
 * and the weighted sparsity loss.
 */
export class SparseResNet extends Module {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d | FrozenBatchNorm2d;
  readonly stages: SparseResLayer[];
  readonly sparseLossWeight: number;
  readonly numBlocks: number;

  constructor(options: SparseResNetOptions = {}) {
    super();
    const { depth = 50, width = 64, sparseLossWeight = 0, seed = 0, ...blockOptions } = options;
    assertOneOf('SparseResNet', 'depth', depth, [50, 101]);
    if (!Number.isInteger(width) || width < 1)
      throw argumentError('SparseResNet', 'width', 'a positive integer', width);
    const rng = new Rng(seed);
    const frozen = blockOptions.norm === 'frozen';
    this.conv1 = this.addModule(
      'conv1',
      new Conv2d(rng, 3, width, 7, { stride: 2, padding: 3, bias: false, init: 'kaiming-fan-out' }),
    );
    this.bn1 = this.addModule('bn1', frozen ? new FrozenBatchNorm2d(width) : new BatchNorm2d(width));
    this.stages = [];
    let inplanes = width;
    COUNTS[depth].forEach((count, s) => {
      const planes = width * 2 ** s;
      this.stages.push(
        this.addModule(
          `layer${s + 1}`,
          new SparseResLayer(rng, inplanes, planes, count, { ...blockOptions, stride: s === 0 ? 1 : 2 }),
        ),
      );
      inplanes = planes * SparseBottleneck.expansion;
    });
    this.sparseLossWeight = sparseLossWeight;
    this.numBlocks = COUNTS[depth].reduce((a, b) => a + b, 0);
  }

  /** Images [N, H, W, 3] -> the feature maps C2..C5 and the sparsity loss (w / blocks * sum of block losses). */
  forwardWithLoss(images: tf.Tensor): { features: Record<FeatureName, tf.Tensor4D>; loss: tf.Scalar } {
    return tf.tidy(() => {
      let x = convNorm(this.conv1, this.bn1, images, true);
      x = tf.maxPool(x as tf.Tensor4D, 3, 2, 1);
      const features = {} as Record<FeatureName, tf.Tensor4D>;
      const losses: tf.Scalar[] = [];
      this.stages.forEach((stage, s) => {
        const r = stage.forwardWithLoss(x);
        x = r.output;
        losses.push(...r.losses);
        features[`C${s + 2}` as FeatureName] = r.output;
      });
      return { features, loss: sparsityLoss(losses, this.sparseLossWeight, this.numBlocks) as tf.Scalar };
    });
  }
}
