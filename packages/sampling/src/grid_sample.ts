import * as tf from '@tensorflow/tfjs-core';
import { argumentError, assertDtype, assertOneOf, checkShapes, stopGradient } from '@deformjs/core';
import { bilinearGatherChecked } from './bilinear_gather';

export interface GridSampleOptions {
  /** 'bilinear' (default) or 'nearest' (round half to even, as PyTorch's nearbyint). */
  mode?: 'bilinear' | 'nearest';
  /** Where a sample outside the input reads from: 'zeros' (default), 'border' (clamped), 'reflection'. */
  paddingMode?: 'zeros' | 'border' | 'reflection';
  /** PyTorch's align_corners (default false): -1 and 1 are the corner pixels' centres rather than their edges. */
  alignCorners?: boolean;
}

/**
 * PyTorch's `F.grid_sample(input, grid, mode, padding_mode, align_corners)` for 4-D inputs in NHWC: samples
 * input [N, H, W, C] at grid [N, Ho, Wo, 2], each (x, y) in [-1, 1] across the width and height, and returns
 * [N, Ho, Wo, C]. Differentiable in input and grid (the grid's gradient is zero for 'nearest', as in PyTorch).
 *
 * A thin layer over the sampling core: the grid becomes pixel coordinates through tf ops (so autodiff carries the
 * coordinate maps' derivatives, clamped and reflected as PyTorch does), and one bilinear gather (fused kernels on
 * cpu and wasm, the composed gather elsewhere) samples them with zero padding.
 */
export function gridSample(input: tf.Tensor, grid: tf.Tensor, options: GridSampleOptions = {}): tf.Tensor {
  const op = 'gridSample';
  if (!(input instanceof tf.Tensor)) throw argumentError(op, 'input', 'a tensor [N, H, W, C]', input);
  if (!(grid instanceof tf.Tensor)) throw argumentError(op, 'grid', 'a tensor [N, Ho, Wo, 2]', grid);
  if (options === null || typeof options !== 'object')
    throw argumentError(op, 'options', '{ mode, paddingMode, alignCorners }', options);
  const { mode = 'bilinear', paddingMode = 'zeros', alignCorners = false } = options;
  assertOneOf(op, 'mode', mode, ['bilinear', 'nearest'] as const);
  assertOneOf(op, 'paddingMode', paddingMode, ['zeros', 'border', 'reflection'] as const);
  if (typeof alignCorners !== 'boolean') throw argumentError(op, 'alignCorners', 'true or false', alignCorners);
  assertDtype(op, 'input', input.dtype, ['float32']);
  assertDtype(op, 'grid', grid.dtype, ['float32']);
  const { N, H, W, C, Ho, Wo } = checkShapes(op, [
    { name: 'input', shape: input.shape, expected: ['N', 'H', 'W', 'C'] },
    { name: 'grid', shape: grid.shape, expected: ['N', 'Ho', 'Wo', 2] },
  ]);

  return tf.tidy(() => {
    const [gx, gy] = tf.split(grid, 2, 3);
    const toPixels = (g: tf.Tensor, size: number) => {
      const pixels = sourceIndex(unnormalize(g, size, alignCorners), size, paddingMode, alignCorners);
      return mode === 'nearest' ? tf.round(pixels) : pixels;
    };
    const locations = tf.reshape(tf.concat([toPixels(gx, W), toPixels(gy, H)], 3), [N, Ho * Wo, 1, 1, 1, 2]);
    const value = tf.reshape(input, [N, H * W, 1, C]);
    const levels = { shapes: Int32Array.of(H, W), starts: Int32Array.of(0), total: H * W };
    const dims = { B: N, S: H * W, G: 1, C, Q: Ho * Wo, L: 1, P: 1 };
    const sampled = bilinearGatherChecked(value, locations, null, {
      levels,
      dims,
      options: { normalized: false, reduce: 'sum' },
    });
    return tf.reshape(sampled, [N, Ho, Wo, C]);
  });
}

/** [-1, 1] to pixel coordinates: -1 and 1 are the corner pixels' centres (alignCorners) or outer edges. */
function unnormalize(g: tf.Tensor, size: number, alignCorners: boolean): tf.Tensor {
  return alignCorners ? tf.mul(tf.add(g, 1), (size - 1) / 2) : tf.div(tf.sub(tf.mul(tf.add(g, 1), size), 1), 2);
}

/** PyTorch's compute_coordinates: where a sample reads from under each padding mode. */
function sourceIndex(x: tf.Tensor, size: number, paddingMode: GridSampleOptions['paddingMode'], alignCorners: boolean) {
  if (paddingMode === 'zeros') return x;
  if (paddingMode === 'reflection') {
    x = alignCorners ? reflect(x, 0, 2 * (size - 1)) : reflect(x, -1, 2 * size - 1);
  }
  return tf.clipByValue(x, 0, size - 1);
}

/** Reflects x into [twiceLow / 2, twiceHigh / 2] by the bounds as mirrors, as often as needed. */
function reflect(x: tf.Tensor, twiceLow: number, twiceHigh: number): tf.Tensor {
  if (twiceLow === twiceHigh) return tf.zerosLike(x);
  const low = twiceLow / 2;
  const span = (twiceHigh - twiceLow) / 2;
  const distance = tf.abs(tf.sub(x, low));
  // Cut from the tape: the parity test below (Equal) has no gradient, and floor's is zero anyway.
  const flips = stopGradient(tf.floor(tf.div(distance, span)));
  const extra = tf.sub(distance, tf.mul(flips, span));
  const even = tf.equal(tf.mod(flips, 2), 0);
  return tf.where(even, tf.add(extra, low), tf.sub(span + low, extra));
}
