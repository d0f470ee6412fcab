import * as tf from '@tensorflow/tfjs-core';
import { Linear, type Rng, argumentError } from '@deformjs/core';

/**
 * What the image and the sequence forms of generalized attention (arXiv 1904.05873) share: the E1..E4 flags and
 * mmcv's initialisation of the term parameters.
 */

/** E1 query and key content, E2 query content and relative position, E3 key content only, E4 relative position only. */
export type AttentionTerms = readonly [boolean, boolean, boolean, boolean];

/** '1010' -> [true, false, true, false]; four 0/1 characters, at least one 1. `op` names the caller in the error. */
export function parseAttentionType(type: unknown, op = 'GeneralizedAttention'): [boolean, boolean, boolean, boolean] {
  if (typeof type !== 'string' || !/^[01]{4}$/.test(type) || type === '0000') {
    throw argumentError(
      op,
      'attentionType',
      "four 0/1 flags for E1..E4 with at least one set, such as '1111' or '0010'",
      type,
    );
  }
  return [type[0] === '1', type[1] === '1', type[2] === '1', type[3] === '1'];
}

/** The E3 (`appr_bias`) or E4 (`geom_bias`) vector of every head, [heads * headDim]: mmcv's U(+-1/sqrt(2 d)). */
export function termBias(rng: Rng, heads: number, headDim: number): tf.Tensor {
  const stdv = 1 / Math.sqrt(headDim * 2);
  return rng.uniformTensor([heads * headDim], -stdv, stdv);
}

/** mmcv's kaiming_init(mode='fan_in', nonlinearity='leaky_relu', a=1, distribution='uniform'): U(+-sqrt(3 / fanIn)). */
export function kaimingUniformA1(rng: Rng, shape: number[], fanIn: number): tf.Tensor {
  const bound = Math.sqrt(3 / fanIn);
  return rng.uniformTensor(shape, -bound, bound);
}

/** nn.Linear(in, out, bias) with mmcv's kaiming init (bias 0). */
export function kaimingLinear(rng: Rng, inFeatures: number, outFeatures: number, bias: boolean): Linear {
  const linear = new Linear(rng, inFeatures, outFeatures, { bias });
  replace(linear.weight, kaimingUniformA1(rng, [inFeatures, outFeatures], inFeatures));
  if (linear.bias) replace(linear.bias, tf.zerosLike(linear.bias));
  return linear;
}

/** Assigns a new value to a variable and frees the value's own handle. */
export function replace(variable: tf.Variable, value: tf.Tensor): void {
  variable.assign(value);
  value.dispose();
}
