import * as tf from '@tensorflow/tfjs-core';
import { Conv2d, Module, Rng, assertInteger, type Layer } from '@deformjs/core';

/** nn.Linear and nn.Conv2d live in core, beside Module, so op packages that need only them do not depend on nn. */
export { Linear, Conv2d, conv2dNhwc } from '@deformjs/core';
export type { Layer, Conv2dOptions } from '@deformjs/core';

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
