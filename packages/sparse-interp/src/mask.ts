import * as tf from '@tensorflow/tfjs-core';
import { Module, type Rng, argumentError, assertInteger, hasFusedKernels } from '@deformjs/core';
import { sampleEvalMaskKernel } from './kernels';

/** The reference's guard inside every log and in the temperature division. */
const P_VALUE = 1e-8;

/** The temperature at evaluation (the reference's fixed 0.03). */
export const EVAL_TEMPERATURE = 0.03;

/**
 * Gumbel-sigmoid relaxation of Bernoulli(p): logits [log(p + 1e-8), log(1 - p + 1e-8)] plus Gumbel noise
 * -log(-log(u + 1e-8) + 1e-8), divided by (T + 1e-8), softmax over the two, first kept (a sigmoid of the
 * difference, which is the same). Seeded by `rng`; differentiable in p.
 */
export function gumbelSigmoid(p: tf.Tensor, temperature: number | tf.Tensor, rng: Rng): tf.Tensor {
  return tf.tidy(() => {
    const gumbel = () => tf.neg(tf.log(tf.add(tf.neg(tf.log(tf.add(rng.uniformTensor(p.shape), P_VALUE))), P_VALUE)));
    const keep = tf.add(tf.log(tf.add(p, P_VALUE)), gumbel());
    const drop = tf.add(tf.log(tf.add(tf.sub(1, p), P_VALUE)), gumbel());
    return tf.sigmoid(tf.div(tf.sub(keep, drop), tf.add(temperature, P_VALUE)));
  });
}

/**
 * Forces the fixed grid prior on: positions with h and w multiples of `interval` ([::interval, ::interval])
 * become 1 (no gradient flows to them, as the reference's in-place assignment). mask [N, H, W, 1].
 */
export function applyGridPrior(mask: tf.Tensor, interval: number): tf.Tensor {
  assertInteger('applyGridPrior', 'interval', interval, 1);
  if (mask.rank !== 4 || mask.shape[3] !== 1)
    throw argumentError('applyGridPrior', 'mask', 'shape [N, H, W, 1]', mask.shape);
  const [, H, W] = mask.shape;
  const prior = new Float32Array(H * W);
  for (let h = 0; h < H; h += interval) for (let w = 0; w < W; w += interval) prior[h * W + w] = 1;
  return tf.tidy(() => {
    const on = tf.tensor4d(prior, [1, H, W, 1]);
    return tf.add(tf.mul(mask, tf.sub(1, on)), on);
  });
}

/** The evaluation rule m * (m >= 0.5): sampled positions keep their relaxed value, the rest become 0. */
export function binarizeMask(mask: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(mask, tf.cast(tf.greaterEqual(mask, 0.5), 'float32')));
}

/**
 * The reference's GumbelSigmoid module: its temperature `cur_T` (a buffer, saved in checkpoints) starts at
 * `maxT` and is multiplied by `decayAlpha` after every training forward; evaluation uses 0.03.
 */
export class GumbelSigmoid extends Module {
  readonly curT: tf.Variable;

  constructor(
    readonly maxT = 1,
    readonly decayAlpha = 0.99998,
  ) {
    super();
    this.curT = this.addBuffer('cur_T', tf.scalar(maxT));
  }

  forward(p: tf.Tensor, rng: Rng): tf.Tensor {
    if (!this.training) return gumbelSigmoid(p, EVAL_TEMPERATURE, rng);
    const out = gumbelSigmoid(p, this.curT, rng);
    tf.tidy(() => this.curT.assign(tf.mul(this.curT, this.decayAlpha)));
    return out;
  }
}

/**
 * Evaluation sampling from mask logits [N, H, W, 1]: p = sigmoid(logits), then `binarizeMask(applyGridPrior(
 * gumbelSigmoid(p, 0.03, rng), interval))`, drawing the same noise from `rng`. On cpu and wasm one fused pass
 * (the composed chain is a dozen small ops); not differentiable. Returns the probabilities and the masks.
 */
export function sampleEvalMask(
  logits: tf.Tensor,
  rng: Rng,
  interval: number,
): { soft: tf.Tensor4D; mask: tf.Tensor4D } {
  assertInteger('sampleEvalMask', 'interval', interval, 1);
  if (logits.rank !== 4 || logits.shape[3] !== 1)
    throw argumentError('sampleEvalMask', 'logits', 'shape [N, H, W, 1]', logits.shape);
  return tf.tidy(() => {
    if (!hasFusedKernels()) {
      const soft = tf.sigmoid(logits) as tf.Tensor4D;
      return {
        soft,
        mask: binarizeMask(applyGridPrior(gumbelSigmoid(soft, EVAL_TEMPERATURE, rng), interval)) as tf.Tensor4D,
      };
    }
    const noise = tf.tensor1d(rng.uniformArray(2 * logits.size));
    const [soft, mask] = sampleEvalMaskKernel(logits, noise, interval, EVAL_TEMPERATURE);
    return { soft, mask };
  });
}

/** The total sparsity loss: the blocks' losses summed, times weight / numBlocks (the reference's sparse_loss_weight / sum(stage_blocks)). */
export function sparsityLoss(blockLosses: tf.Tensor[], weight: number, numBlocks = blockLosses.length): tf.Tensor {
  if (blockLosses.length === 0)
    throw argumentError('sparsityLoss', 'blockLosses', 'at least one block loss', blockLosses.length);
  assertInteger('sparsityLoss', 'numBlocks', numBlocks, 1);
  return tf.tidy(() => tf.mul(tf.addN(blockLosses), weight / numBlocks));
}
