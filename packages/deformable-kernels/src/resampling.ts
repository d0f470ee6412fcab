/**
 * Deformable Kernels as two reads through the shared bilinear sampling core: the scope kernel, seen as an
 * image whose groups are the rotation groups, is resampled at the deformed tap positions (kernel space), and
 * the input is sampled at every tap of every output position (im2col, optionally shifted by image-space
 * offsets). The depthwise product of the two, summed over taps, is the output. The core's registered gradients
 * give every backward pass.
 *
 * Rotation group of channel c is c % R (interleaved). Both reads therefore work on channels permuted into
 * contiguous blocks, [R, C/R] (group g, slot j) for channel j*R + g, and the output is permuted back.
 */
import * as tf from '@tensorflow/tfjs-core';
import { convTapGrid } from '@deformjs/core';
import { bilinearGather } from '@deformjs/sampling';
import type { DeformKernelGeometry } from './geometry';

/** [..., C] -> [..., R, C/R] with channel j*R + g at [g, j]. */
function toGroupBlocks(t: tf.Tensor, groups: number): tf.Tensor {
  const lead = t.shape.slice(0, -1);
  const c = t.shape[t.rank - 1];
  if (groups === 1) return tf.reshape(t, [...lead, 1, c]);
  const split = tf.reshape(t, [...lead, c / groups, groups]);
  const order = lead.map((_, i) => i);
  return tf.transpose(split, [...order, lead.length + 1, lead.length]);
}

/** The inverse of toGroupBlocks: [..., R, C/R] -> [..., C]. */
function fromGroupBlocks(t: tf.Tensor): tf.Tensor {
  const lead = t.shape.slice(0, -2);
  const [groups, slots] = t.shape.slice(-2);
  if (groups === 1) return tf.reshape(t, [...lead, slots]);
  const order = lead.map((_, i) => i);
  return tf.reshape(tf.transpose(t, [...order, lead.length + 1, lead.length]), [...lead, groups * slots]);
}

/**
 * Kernel-space positions (x, y) of the undeformed taps: tap (i, j) sits at (j + (scopeW - kw) / 2,
 * i + (scopeH - kh) / 2), the centre of the scope. Row-major [kh*kw, 2].
 */
function kernelTapGrid(g: DeformKernelGeometry): Float32Array {
  const [kh, kw] = g.kernel;
  const [sH, sW] = g.scope;
  const grid = new Float32Array(kh * kw * 2);
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      grid[2 * (i * kw + j)] = j + (sW - kw) / 2;
      grid[2 * (i * kw + j) + 1] = i + (sH - kh) / 2;
    }
  }
  return grid;
}

/**
 * Deltas [..., R*kh*kw*2] ((dh, dw) per group and tap) whose tap positions are clamped into the scope:
 * clamp(grid + delta, 0, scope - 1) - grid per axis, so the resampled position is the official
 * `clamp(fc + fc_bias, 0, scope - 1)`. The gradient is zero where the clamp is active.
 */
export function clampDeltasToScope(
  deltas: tf.Tensor,
  kernel: [number, number],
  scope: [number, number],
  groups: number,
): tf.Tensor {
  const [kh, kw] = kernel;
  const grid: number[] = [];
  const upper: number[] = [];
  for (let g = 0; g < groups; g++) {
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        grid.push(i + (scope[0] - kh) / 2, j + (scope[1] - kw) / 2);
        upper.push(scope[0] - 1, scope[1] - 1);
      }
    }
  }
  const gridTensor = tf.tensor1d(grid);
  return tf.sub(tf.minimum(tf.maximum(tf.add(deltas, gridTensor), 0), tf.tensor1d(upper)), gridTensor);
}

/**
 * (dh, dw) pairs in the last axis -> (x, y) = (dw, dh), as the core takes them: a product with [[0, 1], [1, 0]]
 * (several times faster than tf.reverse on wasm).
 */
function swapToXY(t: tf.Tensor): tf.Tensor {
  const swap = tf.tensor2d([0, 1, 1, 0], [2, 2]);
  return tf.reshape(tf.matMul(tf.reshape(t, [t.size / 2, 2]), swap), t.shape);
}

/**
 * Resamples the scope kernel `weight` [scopeH, scopeW, C, 1] at the taps shifted by `deltas`
 * [B, Q, R*K*2] (per group g and tap t: channels g*K*2 + 2t (dh) and + 1 (dw)), or at the undeformed taps when
 * `deltas` is null (B = Q = 1). Returns [B, Q, K, R, C/R] in group-block channel order.
 */
export function resampleKernel(
  weight: tf.Tensor,
  deltas: tf.Tensor | null,
  groups: number,
  g: DeformKernelGeometry,
): tf.Tensor {
  const [sH, sW] = g.scope;
  const C = g.inChannels;
  const K = g.kernel[0] * g.kernel[1];
  const value = tf.reshape(toGroupBlocks(tf.reshape(weight, [sH * sW, C]), groups), [1, sH * sW, groups, C / groups]);
  const grid = tf.tensor(kernelTapGrid(g), [K, 2]);
  const [B, Q] = deltas ? deltas.shape : [1, 1];
  const positions = deltas
    ? tf.add(swapToXY(tf.reshape(deltas, [B * Q, groups, K, 2])), grid)
    : tf.broadcastTo(grid, [1, groups, K, 2]);
  const locations = tf.reshape(positions, [1, B * Q, groups, 1, K, 2]);
  const kernels = bilinearGather(value, [[sH, sW]], [0], locations, null, { normalized: false, reduce: 'none' });
  return tf.reshape(kernels, [B, Q, K, groups, C / groups]);
}

/**
 * The input [N, H, W, C] sampled at every tap of every output position, shifted by the image-space `offsets`
 * [N, Ho, Wo, K*2] ((dh, dw) per tap) when given: [N, Ho*Wo, K, R, C/R] in group-block channel order, zero
 * outside the map.
 */
export function imageColumns(
  input: tf.Tensor,
  offsets: tf.Tensor | null,
  groups: number,
  g: DeformKernelGeometry,
): tf.Tensor {
  const { batch: N, inHeight: H, inWidth: W, inChannels: C, outHeight: Ho, outWidth: Wo } = g;
  const K = g.kernel[0] * g.kernel[1];
  const Q = Ho * Wo;
  const value = tf.reshape(toGroupBlocks(input, groups), [N, H * W, groups, C / groups]);
  const grid = tf.tensor(convTapGrid(g), [1, Q, 1, K, 2]);
  const positions = offsets ? tf.add(swapToXY(tf.reshape(offsets, [N, Q, 1, K, 2])), grid) : grid;
  // Every rotation group samples the same positions. (Adding zeros broadcasts with a gradient at any rank;
  // tf.broadcastTo runs Tile, whose gradient stops at rank 4.)
  const locations = tf.reshape(tf.add(positions, tf.zeros([N, 1, groups, 1, 1])), [N, Q, groups, 1, K, 2]);
  return bilinearGather(value, [[H, W]], [0], locations, null, { normalized: false, reduce: 'none' });
}

/**
 * columns [N, Q, K, R, C/R] times per-position (or broadcast) kernels [N or 1, Q or 1, K, R, C/R], summed over
 * the taps: the depthwise convolution output [N, Ho, Wo, C] in the original channel order.
 */
export function contractTaps(columns: tf.Tensor, kernels: tf.Tensor, g: DeformKernelGeometry): tf.Tensor4D {
  const out = fromGroupBlocks(tf.sum(tf.mul(columns, kernels), 2));
  return tf.reshape(out, [g.batch, g.outHeight, g.outWidth, g.inChannels]) as tf.Tensor4D;
}
