import * as tf from '@tensorflow/tfjs-core';
import { runFused } from '@deformjs/core';
import { composedGather } from './composed';
import { BILINEAR_GATHER, GATHER_KERNEL_BACKENDS, registerBilinearGatherKernels } from './kernels';
import { checkGatherArguments } from './validate';
import type { BilinearGatherOptions, CheckedGather, LevelStartIndexLike, SpatialShapesLike } from './validate';

/**
 * Samples `value` bilinearly at fractional `locations` on each level and weights the samples, summing them
 * over levels and points (`reduce: 'sum'`, out [B, Q, G, Cg]) or keeping each one (`reduce: 'none'`,
 * out [B, Q, L*P, G, Cg]). Zero padding: a corner outside its level contributes 0, and a point outside
 * (-1, W) x (-1, H) contributes nothing. Differentiable in value, locations and weights.
 *
 * value [B, S, G, Cg] (levels concatenated, each row-major); spatialShapes [L, 2] rows (H, W);
 * levelStartIndex [L]; locations [B, Q, G, L, P, 2] as (x, y); weights [B, Q, G, L, P] or null (all ones).
 *
 * On cpu and wasm this runs one fused kernel forward and one backward, on webgl shader programs (forward, and one
 * per gradient); on other backends a composition of tf ops (`bilinearGatherComposed`).
 */
export function bilinearGather(
  value: tf.Tensor,
  spatialShapes: SpatialShapesLike,
  levelStartIndex: LevelStartIndexLike,
  locations: tf.Tensor,
  weights: tf.Tensor | null,
  options: BilinearGatherOptions,
): tf.Tensor {
  const checked = checkGatherArguments(
    'bilinearGather',
    value,
    spatialShapes,
    levelStartIndex,
    locations,
    weights,
    options,
  );
  return bilinearGatherChecked(value, locations, weights, checked);
}

/**
 * `bilinearGather` on arguments already validated by `checkGatherArguments`, for ops built on it that check
 * with their own names: the kernels on cpu, wasm and webgl, the composed path elsewhere.
 */
export function bilinearGatherChecked(
  value: tf.Tensor,
  locations: tf.Tensor,
  weights: tf.Tensor | null,
  checked: CheckedGather,
): tf.Tensor {
  return GATHER_KERNEL_BACKENDS.includes(tf.getBackend())
    ? fusedGather(value, locations, weights, checked)
    : composedGather(value, locations, weights, checked);
}

function fusedGather(
  value: tf.Tensor,
  locations: tf.Tensor,
  weights: tf.Tensor | null,
  { levels, options }: CheckedGather,
): tf.Tensor {
  registerBilinearGatherKernels();
  return tf.tidy(() => {
    const L = levels.starts.length;
    const inputs = {
      value,
      spatialShapes: tf.tensor2d(levels.shapes, [L, 2], 'int32'),
      levelStartIndex: tf.tensor1d(levels.starts, 'int32'),
      locations,
      weights: weights ?? tf.ones([1]),
    };
    return runFused(BILINEAR_GATHER, inputs, {
      normalized: options.normalized,
      reduce: options.reduce,
      weighted: weights !== null,
    })[0];
  });
}
