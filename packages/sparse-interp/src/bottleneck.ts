import * as tf from '@tensorflow/tfjs-core';
import {
  Module,
  type Rng,
  argumentError,
  assertInteger,
  assertOneOf,
  checkShapes,
  hasFusedKernels,
  convGeometry,
} from '@deformjs/core';
import { BatchNorm2d, Conv2d, FrozenBatchNorm2d, Sequential, convNorm, type Layer } from '@deformjs/nn';
import { gaussianKernel, interpolate, interpolateSampled } from './interpolate';
import { gatherRows, im2colRows, interpolateRows, tapSum } from './kernels';
import { GumbelSigmoid, applyGridPrior, sampleEvalMask } from './mask';
import { activeIndices, sparseConv2d } from './sparse_conv';

export interface SparseBottleneckOptions {
  /** On the 3x3 conv (torchvision's v1.5, the reference's 'pytorch' style) and on conv2's mask. */
  stride?: number;
  dilation?: number;
  /** A 1x1 conv + norm on the shortcut; built by default when the stride or the channel count changes. */
  downsample?: boolean;
  /** 'batch' (BatchNorm2d, default) or 'frozen' (FrozenBatchNorm2d). */
  norm?: 'batch' | 'frozen';
  /** The fixed grid prior: every `gridPriorInterval`-th row and column position is always sampled (11). */
  gridPriorInterval?: number;
  /** Size of the Gaussian interpolation kernel (7). */
  gaussianKernel?: number;
  /** Gumbel temperature at the start of training (1) and its decay per training forward (0.99998). */
  maxT?: number;
  decayAlpha?: number;
}

/** The two sampling masks of a block: the mask-conv probabilities and the masks the block uses (relaxed or evaluated). */
export interface BlockMasks {
  soft1: tf.Tensor4D;
  mask1: tf.Tensor4D;
  soft2: tf.Tensor4D;
  mask2: tf.Tensor4D;
}

type NormLayer = BatchNorm2d | FrozenBatchNorm2d;

/**
 * The reference's sparse ResNet bottleneck (arXiv 2003.08866): torchvision's Bottleneck (conv1 1x1, conv2 3x3
 * with the stride, conv3 1x1, their norms, downsample) plus, per conv1 and conv2, a mask conv on the block
 * input (3x3 to one channel, weight 0, bias 3), a Gumbel-sigmoid sampler and a learnable interpolation sigma.
 * conv1's and conv2's outputs are kept at the sampled positions and interpolated elsewhere; conv3 and the
 * shortcut are dense. Training relaxes the masks and computes densely; evaluation computes conv1 and conv2
 * only at the sampled positions (`sparseConv2d`). NHWC in and out.
 */
export class SparseBottleneck extends Module implements Layer {
  static readonly expansion = 4;
  readonly conv1: Conv2d;
  readonly bn1: NormLayer;
  readonly conv2: Conv2d;
  readonly bn2: NormLayer;
  readonly conv3: Conv2d;
  readonly bn3: NormLayer;
  readonly downsample: Sequential | null;
  readonly conv1_mask: Conv2d;
  readonly conv2_mask: Conv2d;
  readonly conv1_gumbel: GumbelSigmoid;
  readonly conv2_gumbel: GumbelSigmoid;
  readonly conv1_sigma: tf.Variable;
  readonly conv2_sigma: tf.Variable;
  readonly stride: number;
  readonly dilation: number;
  readonly gridPriorInterval: number;
  readonly gaussianKernel: number;
  private readonly noise: Rng;

  constructor(
    rng: Rng,
    readonly inplanes: number,
    readonly planes: number,
    options: SparseBottleneckOptions = {},
  ) {
    super();
    const op = 'SparseBottleneck';
    assertInteger(op, 'inplanes', inplanes, 1);
    assertInteger(op, 'planes', planes, 1);
    this.stride = assertInteger(op, 'stride', options.stride ?? 1, 1);
    this.dilation = assertInteger(op, 'dilation', options.dilation ?? 1, 1);
    this.gridPriorInterval = assertInteger(op, 'gridPriorInterval', options.gridPriorInterval ?? 11, 1);
    this.gaussianKernel = assertInteger(op, 'gaussianKernel', options.gaussianKernel ?? 7, 1);
    if (this.gaussianKernel % 2 !== 1) throw argumentError(op, 'gaussianKernel', 'an odd size', this.gaussianKernel);
    const normKind = assertOneOf(op, 'norm', options.norm ?? 'batch', ['batch', 'frozen']);
    const norm = (c: number): NormLayer => (normKind === 'batch' ? new BatchNorm2d(c) : new FrozenBatchNorm2d(c));
    const out = planes * SparseBottleneck.expansion;
    const conv = (i: number, o: number, k: number, stride = 1, dilation = 1) =>
      new Conv2d(rng, i, o, k, {
        stride,
        padding: k === 3 ? dilation : 0,
        dilation,
        bias: false,
        init: 'kaiming-fan-out',
      });

    this.conv1 = this.addModule('conv1', conv(inplanes, planes, 1));
    this.bn1 = this.addModule('bn1', norm(planes));
    this.conv2 = this.addModule('conv2', conv(planes, planes, 3, this.stride, this.dilation));
    this.bn2 = this.addModule('bn2', norm(planes));
    this.conv3 = this.addModule('conv3', conv(planes, out, 1));
    this.bn3 = this.addModule('bn3', norm(out));
    const needsDownsample = options.downsample ?? (this.stride !== 1 || inplanes !== out);
    this.downsample = needsDownsample
      ? this.addModule('downsample', new Sequential(conv(inplanes, out, 1, this.stride), norm(out)))
      : null;

    this.conv1_mask = this.addModule('conv1_mask', maskConv(rng, inplanes, 1));
    this.conv2_mask = this.addModule('conv2_mask', maskConv(rng, inplanes, this.stride));
    this.conv1_gumbel = this.addModule(
      'conv1_gumbel',
      new GumbelSigmoid(options.maxT ?? 1, options.decayAlpha ?? 0.99998),
    );
    this.conv2_gumbel = this.addModule(
      'conv2_gumbel',
      new GumbelSigmoid(options.maxT ?? 1, options.decayAlpha ?? 0.99998),
    );
    this.conv1_sigma = this.addParameter('conv1_sigma', tf.scalar(3));
    this.conv2_sigma = this.addParameter('conv2_sigma', tf.scalar(3));
    this.noise = rng.fork();
  }

  /** Predicts, samples and (in evaluation) binarises both masks from the block input; advances the temperature in training. */
  sampleMasks(x: tf.Tensor): BlockMasks {
    this.checkInput(x);
    return tf.tidy(() => {
      if (!this.training) {
        const logits = hasFusedKernels()
          ? this.maskLogitsForInference(x)
          : [this.conv1_mask.forward(x), this.conv2_mask.forward(x)];
        const first = sampleEvalMask(logits[0], this.noise, this.gridPriorInterval);
        const second = sampleEvalMask(logits[1], this.noise, this.gridPriorInterval);
        return { soft1: first.soft, mask1: first.mask, soft2: second.soft, mask2: second.mask };
      }
      const sample = (maskConv: Conv2d, gumbel: GumbelSigmoid) => {
        const soft = tf.sigmoid(maskConv.forward(x)) as tf.Tensor4D;
        return [soft, applyGridPrior(gumbel.forward(soft, this.noise), this.gridPriorInterval) as tf.Tensor4D];
      };
      const [soft1, mask1] = sample(this.conv1_mask, this.conv1_gumbel);
      const [soft2, mask2] = sample(this.conv2_mask, this.conv2_gumbel);
      return { soft1, mask1, soft2, mask2 };
    });
  }

  /**
   * Both mask convs at inference as one matMul of the input pixels by every tap's weights ([C, 2*9]), then a
   * tap sum per mask: a conv with one output channel is the backend's slowest shape (on wasm it costs as much
   * as a 64-channel one), this is a fraction of it.
   */
  private maskLogitsForInference(x: tf.Tensor): tf.Tensor[] {
    const [N, H, W, C] = x.shape;
    const taps = (conv: Conv2d) => tf.transpose(tf.reshape(conv.weight, [9, C]));
    const products = tf.reshape(
      tf.matMul(tf.reshape(x, [N * H * W, C]), tf.concat([taps(this.conv1_mask), taps(this.conv2_mask)], 1)),
      [N, H, W, 18],
    );
    return [this.conv1_mask, this.conv2_mask].map((conv, k) => {
      const geometry = convGeometry(
        'SparseBottleneck',
        x.shape,
        { kernel: [3, 3], outChannels: 1, arg: 'x' },
        { stride: conv.stride, padding: conv.padding, dilation: conv.dilation },
      );
      return tf.add(tapSum(products, 9 * k, geometry), conv.bias!);
    });
  }

  /** The block output and its sparsity loss 0.25 * mean(p1) + 0.75 * mean(p2). */
  forwardWithLoss(x: tf.Tensor): { output: tf.Tensor4D; loss: tf.Scalar } {
    return tf.tidy(() => {
      const masks = this.sampleMasks(x);
      const loss = tf.add(tf.mul(tf.mean(masks.soft1), 0.25), tf.mul(tf.mean(masks.soft2), 0.75)) as tf.Scalar;
      return { output: this.forwardMasked(x, masks.mask1, masks.mask2), loss };
    });
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.forwardWithLoss(x).output);
  }

  /**
   * The block with given masks ([N, H, W, 1] for conv1, [N, Ho, Wo, 1] for conv2). In evaluation conv1 and
   * conv2 run only where their mask is nonzero; in training densely.
   */
  forwardMasked(x: tf.Tensor, mask1: tf.Tensor, mask2: tf.Tensor): tf.Tensor4D {
    const { N, H, W } = this.checkInput(x);
    checkShapes('SparseBottleneck', [{ name: 'mask1', shape: mask1.shape, expected: ['N', 'H', 'W', 1] }], { N, H, W });
    const [Ho, Wo] = [H, W].map((d) => Math.floor((d - 1) / this.stride) + 1);
    checkShapes('SparseBottleneck', [{ name: 'mask2', shape: mask2.shape, expected: ['N', 'Ho', 'Wo', 1] }], {
      N,
      Ho,
      Wo,
    });
    return tf.tidy(() => {
      if (!this.training && hasFusedKernels()) return this.forwardSampled(x, mask1, mask2);
      const k = this.gaussianKernel;
      let out = this.training
        ? convNorm(this.conv1, this.bn1, x, true)
        : this.sparseConvNorm(this.conv1, this.bn1, x, mask1);
      const fill = this.training ? interpolate : interpolateSampled;
      out = fill(out, mask1, this.conv1_sigma, k);
      out = this.training
        ? convNorm(this.conv2, this.bn2, out, true)
        : this.sparseConvNorm(this.conv2, this.bn2, out, mask2);
      out = fill(out, mask2, this.conv2_sigma, k);
      out = convNorm(this.conv3, this.bn3, out, false);
      const identity = this.downsample ? convNorm(this.downsample.layers[0], this.downsample.layers[1], x, false) : x;
      return tf.relu(tf.add(out, identity)) as tf.Tensor4D;
    });
  }

  /**
   * Evaluation on cpu and wasm, computing only what the masks sample: conv1 (1x1) on the input pixels at mask1's
   * positions and conv2 at mask2's, each with its norm folded in and the relu fused into the matMul; each
   * interpolation reads those rows directly (no scattered map). conv3 stays dense on the interpolated map, as
   * in the reference. Computing it on conv2's rows and interpolating its 4x wider output instead (exact too:
   * the interpolation commutes with a 1x1 conv) was slower at both of the bench's shapes: the interpolation is a
   * scalar loop, the dense 1x1 conv the backend's SIMD matMul.
   */
  private forwardSampled(x: tf.Tensor, mask1: tf.Tensor, mask2: tf.Tensor): tf.Tensor4D {
    const [N, H, W, C] = x.shape;
    const k = this.gaussianKernel;
    const folded = (conv: Conv2d, norm: NormLayer) => {
      const { scale, shift } = norm.affine();
      const [kh, kw, i, o] = conv.weight.shape;
      return { weight: tf.reshape(tf.mul(conv.weight, scale), [kh * kw * i, o]) as tf.Tensor2D, shift };
    };
    const conv1 = folded(this.conv1, this.bn1);
    const pixels = gatherRows(tf.reshape(x, [N * H * W, C]), tf.tensor1d(activeIndices(mask1), 'int32'));
    const rows1 = tf.fused.matMul({ a: pixels, b: conv1.weight, bias: conv1.shift, activation: 'relu' });
    const out1 = interpolateRows(rows1, mask1, gaussianKernel(tf.reshape(this.conv1_sigma, []), k));

    const conv2 = folded(this.conv2, this.bn2);
    const geometry = convGeometry(
      'SparseBottleneck',
      out1.shape,
      { kernel: [3, 3], outChannels: this.planes, arg: 'x' },
      { stride: this.conv2.stride, padding: this.conv2.padding, dilation: this.conv2.dilation },
    );
    const columns = im2colRows(out1, tf.tensor1d(activeIndices(mask2), 'int32'), geometry);
    const rows2 = tf.fused.matMul({ a: columns, b: conv2.weight, bias: conv2.shift, activation: 'relu' });

    const out2 = interpolateRows(rows2, mask2, gaussianKernel(tf.reshape(this.conv2_sigma, []), k));
    const [, Ho, Wo] = out2.shape;
    const conv3 = folded(this.conv3, this.bn3);
    const out3 = tf.fused.matMul({
      a: tf.reshape(out2, [N * Ho * Wo, this.planes]),
      b: conv3.weight,
      bias: conv3.shift,
    });
    const identity = this.downsample ? convNorm(this.downsample.layers[0], this.downsample.layers[1], x, false) : x;
    return tf.relu(tf.add(tf.reshape(out3, identity.shape), identity)) as tf.Tensor4D;
  }

  private checkInput(x: tf.Tensor): Record<string, number> {
    if (!(x instanceof tf.Tensor)) throw argumentError('SparseBottleneck', 'x', 'a tensor', x);
    return checkShapes('SparseBottleneck', [{ name: 'x', shape: x.shape, expected: ['N', 'H', 'W', this.inplanes] }]);
  }

  /** relu(norm(conv(x))) at the mask's nonzero positions only, the norm's fixed affine map folded into the conv; zero elsewhere. */
  private sparseConvNorm(conv: Conv2d, norm: NormLayer, x: tf.Tensor, mask: tf.Tensor): tf.Tensor {
    const { scale, shift } = norm.affine();
    const y = sparseConv2d(x, tf.mul(conv.weight, scale), activeIndices(mask), {
      strides: conv.stride,
      pad: conv.padding,
      dilations: conv.dilation,
      bias: shift,
    });
    return tf.relu(y);
  }
}

/** The reference's mask conv: 3x3 to one channel, padding 1, weight 0 and bias 3 (p = sigmoid(3) ~ 0.95 at start). */
function maskConv(rng: Rng, inChannels: number, stride: number): Conv2d {
  const conv = new Conv2d(rng, inChannels, 1, 3, { stride, padding: 1 });
  tf.tidy(() => {
    conv.weight.assign(tf.zerosLike(conv.weight));
    conv.bias!.assign(tf.fill([1], 3));
  });
  return conv;
}

/**
 * A ResNet stage of sparse bottlenecks ('0', '1', ...; the first takes the stride and the downsample), as the
 * reference's make_res_layer. `forwardWithLoss` returns the output and the blocks' sparsity losses.
 */
export class SparseResLayer extends Module implements Layer {
  readonly blocks: SparseBottleneck[];

  constructor(rng: Rng, inplanes: number, planes: number, numBlocks: number, options: SparseBottleneckOptions = {}) {
    super();
    assertInteger('SparseResLayer', 'numBlocks', numBlocks, 1);
    const { stride = 1, ...rest } = options;
    this.blocks = [];
    for (let b = 0; b < numBlocks; b++) {
      const block = new SparseBottleneck(rng, b === 0 ? inplanes : planes * SparseBottleneck.expansion, planes, {
        ...rest,
        stride: b === 0 ? stride : 1,
      });
      this.blocks.push(this.addModule(String(b), block));
    }
  }

  forwardWithLoss(x: tf.Tensor): { output: tf.Tensor4D; losses: tf.Scalar[] } {
    return tf.tidy(() => {
      const losses: tf.Scalar[] = [];
      let h = x as tf.Tensor4D;
      for (const block of this.blocks) {
        const r = block.forwardWithLoss(h);
        h = r.output;
        losses.push(r.loss);
      }
      return { output: h, losses };
    });
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.forwardWithLoss(x).output);
  }
}
