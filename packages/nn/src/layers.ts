import * as tf from '@tensorflow/tfjs-core';
import { Module, Rng, assertInteger, kaimingNormalFanOut, pair, torchDefaultUniform } from '@deformjs/core';

/** nn.Linear lives in core, beside Module, so packages that need only it do not depend on nn. */
export { Linear } from '@deformjs/core';

/** A module that maps one NHWC (or [..., features]) tensor to another. */
export interface Layer extends Module {
  forward(x: tf.Tensor): tf.Tensor;
}

export interface Conv2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
  bias?: boolean;
  /** 'torch' (default): PyTorch's default init; 'kaiming-fan-out': torchvision's ResNet init (bias 0). */
  init?: 'torch' | 'kaiming-fan-out';
}

/**
 * nn.Conv2d on NHWC: weight HWIO (PyTorch OIHW converts on load), symmetric zero padding. Dilated
 * convolutions (stride 1) run as space-to-batch + dense conv + batch-to-space, because tfjs's Conv2D
 * gradient refuses dilation > 1; the result is the same and trainable.
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
    if ((this.dilation[0] > 1 || this.dilation[1] > 1) && (this.stride[0] > 1 || this.stride[1] > 1)) {
      throw new Error(
        `Conv2d: dilation ${this.dilation} with stride ${this.stride} is not supported (dilated convs here have stride 1)`,
      );
    }
    const fanIn = inChannels * kh * kw;
    const shape = [kh, kw, inChannels, outChannels];
    const kaiming = options.init === 'kaiming-fan-out';
    this.weight = this.addParameter(
      'weight',
      kaiming ? kaimingNormalFanOut(rng, shape, outChannels * kh * kw) : torchDefaultUniform(rng, shape, fanIn),
      'conv2d',
    );
    this.bias =
      options.bias === false
        ? null
        : this.addParameter('bias', kaiming ? tf.zeros([outChannels]) : torchDefaultUniform(rng, [outChannels], fanIn));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const y = conv2dNhwc(x as tf.Tensor4D, this.weight as tf.Tensor4D, this.stride, this.padding, this.dilation);
      return this.bias ? tf.add(y, this.bias) : y;
    });
  }
}

/** A differentiable 2-d convolution with symmetric padding, for any dilation (stride 1 when dilated). */
export function conv2dNhwc(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  stride: [number, number],
  padding: [number, number],
  dilation: [number, number],
): tf.Tensor4D {
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
      return tf.conv2d(x, filter, stride, pad);
    }
    const [, h, w] = x.shape;
    const [kh, kw] = filter.shape;
    // Pad each axis to a multiple of its dilation, so every phase of the space-to-batch grid is complete.
    const extraH = (dh - ((h + 2 * ph) % dh)) % dh;
    const extraW = (dw - ((w + 2 * pw) % dw)) % dw;
    const phases = tf.spaceToBatchND(
      x,
      [dh, dw],
      [
        [ph, ph + extraH],
        [pw, pw + extraW],
      ],
    );
    const y = tf.conv2d(phases as tf.Tensor4D, filter, 1, 'valid');
    if ((h + 2 * ph + extraH) / dh - (kh - 1) <= 0 || (w + 2 * pw + extraW) / dw - (kw - 1) <= 0) {
      throw new Error(`Conv2d: input ${h}x${w} with padding ${padding} is smaller than the dilated kernel`);
    }
    return tf.batchToSpaceND(
      y,
      [dh, dw],
      [
        [0, extraH],
        [0, extraW],
      ],
    ) as tf.Tensor4D;
  });
}

/**
 * nn.BatchNorm2d on NHWC. Training mode normalises with the batch statistics and updates the running ones
 * (momentum 0.1, unbiased variance, as PyTorch); eval mode uses the running statistics.
 */
export class BatchNorm2d extends Module implements Layer {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  readonly runningMean: tf.Variable;
  readonly runningVar: tf.Variable;
  readonly numBatchesTracked: tf.Variable;

  constructor(
    readonly numFeatures: number,
    readonly eps = 1e-5,
    readonly momentum = 0.1,
  ) {
    super();
    assertInteger('BatchNorm2d', 'numFeatures', numFeatures, 1);
    this.weight = this.addParameter('weight', tf.ones([numFeatures]));
    this.bias = this.addParameter('bias', tf.zeros([numFeatures]));
    this.runningMean = this.addBuffer('running_mean', tf.zeros([numFeatures]));
    this.runningVar = this.addBuffer('running_var', tf.ones([numFeatures]));
    this.numBatchesTracked = this.addBuffer('num_batches_tracked', tf.scalar(0, 'int32'));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      if (!this.training) return tf.batchNorm(x, this.runningMean, this.runningVar, this.bias, this.weight, this.eps);
      const C = this.numFeatures;
      const count = x.size / C;
      const rows = tf.reshape(x, [count, C]);
      const ones = tf.ones([1, count]);
      // Channel sums as a [1, M] x [M, C] matMul: reducing NHWC over its leading axes otherwise transposes.
      const mean = tf.div(tf.matMul(ones, rows), count);
      const variance = tf.div(tf.matMul(ones, tf.square(tf.sub(rows, mean))), count);
      const m = this.momentum;
      const unbiased = tf.mul(variance, count / Math.max(count - 1, 1));
      this.runningMean.assign(tf.add(tf.mul(this.runningMean, 1 - m), tf.mul(tf.reshape(mean, [C]), m)));
      this.runningVar.assign(tf.add(tf.mul(this.runningVar, 1 - m), tf.mul(tf.reshape(unbiased, [C]), m)));
      this.numBatchesTracked.assign(tf.add(this.numBatchesTracked, tf.scalar(1, 'int32')));
      return tf.reshape(batchNormTraining(rows, mean, variance, this.weight, this.bias, this.eps), x.shape);
    });
  }

  /** The per-channel affine map of eval mode, y = x * scale + shift (for folding into a preceding conv). */
  affine(): { scale: tf.Tensor; shift: tf.Tensor } {
    return foldedAffine(this.weight, this.bias, this.runningMean, this.runningVar, this.eps);
  }
}

function foldedAffine(
  weight: tf.Tensor,
  bias: tf.Tensor,
  mean: tf.Tensor,
  variance: tf.Tensor,
  eps: number,
): { scale: tf.Tensor; shift: tf.Tensor } {
  const scale = tf.mul(weight, tf.rsqrt(tf.add(variance, eps)));
  return { scale, shift: tf.sub(bias, tf.mul(mean, scale)) };
}

/**
 * conv -> norm (-> ReLU) as one fused conv when the norm is a fixed affine map (FrozenBatchNorm2d, or
 * BatchNorm2d in eval mode) and the conv a plain bias-free, undilated Conv2d: the scale folds into the filter
 * and the shift becomes the bias, which saves a pass over the activations. Otherwise the layers run in turn.
 */
export function convNorm(conv: Layer, norm: Layer, x: tf.Tensor, relu: boolean): tf.Tensor {
  return tf.tidy(() => {
    const fixed = norm instanceof FrozenBatchNorm2d || (norm instanceof BatchNorm2d && !norm.training);
    if (
      fixed &&
      conv instanceof Conv2d &&
      conv.bias === null &&
      conv.dilation[0] === 1 &&
      conv.dilation[1] === 1 &&
      conv.padding[0] === conv.padding[1]
    ) {
      const { scale, shift } = (norm as BatchNorm2d | FrozenBatchNorm2d).affine();
      return tf.fused.conv2d({
        x: x as tf.Tensor4D,
        filter: tf.mul(conv.weight, scale) as tf.Tensor4D,
        strides: conv.stride,
        pad: conv.padding[0],
        bias: shift,
        activation: relu ? 'relu' : 'linear',
      });
    }
    const y = norm.forward(conv.forward(x));
    return relu ? tf.relu(y) : y;
  });
}

/**
 * Batch normalisation of rows [M, C] with their own batch statistics (mean, biased variance [1, C]) and the
 * closed-form gradient, dx = gamma * invstd / M * (M dy - sum(dy) - xhat * sum(dy * xhat)), whose channel
 * sums are matMuls too. The statistics are inputs only to share their computation: their gradient is folded
 * into dx, so they receive zeros.
 */
function batchNormTraining(
  rows: tf.Tensor,
  mean: tf.Tensor,
  variance: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  eps: number,
): tf.Tensor {
  const op = tf.customGrad(((
    x: tf.Tensor,
    mu: tf.Tensor,
    v: tf.Tensor,
    g: tf.Tensor,
    b: tf.Tensor,
    save: tf.GradSaveFunc,
  ) => {
    const invstd = tf.rsqrt(tf.add(v, eps));
    const xhat = tf.mul(tf.sub(x, mu), invstd);
    save([xhat, invstd, g]);
    return {
      value: tf.add(tf.mul(xhat, g), b),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xh, inv, gam] = saved;
        const count = dy.shape[0];
        const ones = tf.ones([1, count]);
        const dBeta = tf.matMul(ones, dy);
        const dGamma = tf.matMul(ones, tf.mul(dy, xh));
        const dx = tf.mul(
          tf.mul(gam, tf.div(inv, count)),
          tf.sub(tf.sub(tf.mul(dy, count), dBeta), tf.mul(xh, dGamma)),
        );
        return [
          dx,
          tf.zerosLike(mu),
          tf.zerosLike(v),
          tf.reshape(dGamma, gam.shape),
          tf.reshape(dBeta, [gam.shape[0]]),
        ];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(rows, mean, variance, gamma, beta);
}

/**
 * BatchNorm2d with fixed statistics and affine parameters (DETR's and torchvision's FrozenBatchNorm2d):
 * all four are buffers, never trained, the same in train and eval mode. Same state_dict keys minus
 * num_batches_tracked.
 */
export class FrozenBatchNorm2d extends Module implements Layer {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  readonly runningMean: tf.Variable;
  readonly runningVar: tf.Variable;

  constructor(
    readonly numFeatures: number,
    readonly eps = 1e-5,
  ) {
    super();
    assertInteger('FrozenBatchNorm2d', 'numFeatures', numFeatures, 1);
    this.weight = this.addBuffer('weight', tf.ones([numFeatures]));
    this.bias = this.addBuffer('bias', tf.zeros([numFeatures]));
    this.runningMean = this.addBuffer('running_mean', tf.zeros([numFeatures]));
    this.runningVar = this.addBuffer('running_var', tf.ones([numFeatures]));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const { scale, shift } = this.affine();
      return tf.add(tf.mul(x, scale), shift);
    });
  }

  affine(): { scale: tf.Tensor; shift: tf.Tensor } {
    return foldedAffine(this.weight, this.bias, this.runningMean, this.runningVar, this.eps);
  }
}

/** nn.LayerNorm over the last axis. */
export class LayerNorm extends Module implements Layer {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;

  constructor(
    readonly features: number,
    readonly eps = 1e-5,
  ) {
    super();
    this.weight = this.addParameter('weight', tf.ones([features]));
    this.bias = this.addParameter('bias', tf.zeros([features]));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const { mean, variance } = tf.moments(x, -1, true);
      return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, this.eps))), this.weight), this.bias);
    });
  }
}

/** Inverted dropout with a seeded generator (reproducible and resumable, unlike tf.dropout's own seed). */
export function dropout(x: tf.Tensor, rate: number, training: boolean, rng: Rng): tf.Tensor {
  if (!training || rate === 0) return x;
  return tf.tidy(() => {
    const keep = tf.cast(tf.greaterEqual(rng.uniformTensor(x.shape), rate), 'float32');
    return tf.mul(x, tf.mul(keep, 1 / (1 - rate)));
  });
}

/** Children registered under '0', '1', ... (nn.Sequential) and applied in order. */
export class Sequential extends Module implements Layer {
  readonly layers: Layer[];
  constructor(...layers: Layer[]) {
    super();
    this.layers = layers.map((layer, i) => this.addModule(String(i), layer));
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.layers.reduce((h, layer) => layer.forward(h), x));
  }
}

/** nn.ModuleList: children registered under the names given ('0', '1', ...), applied by their owner. */
export class ModuleList extends Module {
  add<M extends Module>(name: string, module: M): M {
    return this.addModule(name, module);
  }
}

/** nn.Embedding: a table `weight` [num, dim] initialised N(0, 1); `forward` looks rows up by integer index. */
export class Embedding extends Module {
  readonly weight: tf.Variable;
  constructor(rng: Rng, num: number, dim: number) {
    super();
    this.weight = this.addParameter('weight', rng.normalTensor([num, dim]));
  }

  forward(indices: tf.Tensor): tf.Tensor {
    return tf.gather(this.weight, indices);
  }
}

/** A parameter-free ReLU, so Sequential indices match PyTorch's (nn.ReLU holds no state). */
export class ReLU extends Module implements Layer {
  forward(x: tf.Tensor): tf.Tensor {
    return tf.relu(x);
  }
}

/**
 * The generator a model's dropout layers share. Checkpoints save `rng.state()` and `restore` it, so a resumed
 * run draws the same dropout masks as an uninterrupted one.
 */
export class NoiseSource {
  constructor(public rng: Rng) {}
  restore(state: readonly number[]): void {
    this.rng = new Rng(state);
  }
}

/** nn.Dropout as a parameter-free module (active in training mode only), drawing from a shared NoiseSource. */
export class Dropout extends Module implements Layer {
  constructor(
    readonly rate: number,
    private readonly noise: NoiseSource,
  ) {
    super();
  }
  forward(x: tf.Tensor): tf.Tensor {
    return dropout(x, this.rate, this.training, this.noise.rng);
  }
}

/** Bilinear resize of NHWC maps as F.interpolate(mode='bilinear', align_corners=False); differentiable. */
export function resizeBilinear(x: tf.Tensor, size: [number, number]): tf.Tensor {
  if (x.shape[1] === size[0] && x.shape[2] === size[1]) return x;
  return tf.image.resizeBilinear(x as tf.Tensor4D, size, false, true);
}
