import * as tf from '@tensorflow/tfjs-core';
import {
  addBias,
  argumentError,
  assertDtype,
  assertInteger,
  checkShapes,
  convGeometry,
  convTapGrid,
  pair,
  type ConvGeometry,
} from '@deformjs/core';
import { bilinearGather } from '@deformjs/sampling';

const OP = 'deformConv2d';

export interface DeformConv2dOptions {
  /** DCNv2 modulation [N, Ho, Wo, offsetGroups * kh * kw], channel g*K + k; omit for DCNv1. */
  mask?: tf.Tensor | null;
  /** [O]. */
  bias?: tf.Tensor | null;
  strides?: number | [number, number];
  /** Explicit zero padding of each side, as torchvision's `padding`: a number or [padHeight, padWidth]. */
  pad?: number | [number, number];
  dilations?: number | [number, number];
  /** Weight groups (torchvision infers them from the weight's shape; here they are given). */
  groups?: number;
  /** Offset ("deformable") groups G; inferred from the offset's channels when omitted. */
  offsetGroups?: number;
}

/** Every size of a deformable convolution, resolved and checked: core's conv geometry and the groups. */
export interface DeformConv2dGeometry extends ConvGeometry {
  groups: number;
  offsetGroups: number;
}

/**
 * Checks the arguments of `deformConv2d` and resolves its geometry. Every problem throws an error naming the
 * argument, what was expected and what came.
 */
export function checkDeformConv2dArguments(
  input: tf.Tensor,
  offset: tf.Tensor,
  weight: tf.Tensor,
  options: DeformConv2dOptions = {},
): DeformConv2dGeometry {
  for (const [name, t] of [
    ['input', input],
    ['offset', offset],
    ['weight', weight],
  ] as const) {
    if (!(t instanceof tf.Tensor)) throw argumentError(OP, name, 'a tensor', t);
    assertDtype(OP, name, t.dtype, ['float32']);
  }
  const { mask = null, bias = null } = options;
  if (mask !== null && !(mask instanceof tf.Tensor)) throw argumentError(OP, 'mask', 'a tensor or null', mask);
  if (bias !== null && !(bias instanceof tf.Tensor)) throw argumentError(OP, 'bias', 'a tensor or null', bias);
  if (mask) assertDtype(OP, 'mask', mask.dtype, ['float32']);
  if (bias) assertDtype(OP, 'bias', bias.dtype, ['float32']);

  const { N, C, kh, kw, O } = checkShapes(OP, [
    { name: 'input', shape: input.shape, expected: ['N', 'H', 'W', 'C'] },
    { name: 'weight', shape: weight.shape, expected: ['kh', 'kw', null, 'O'] },
  ]);
  const strides = pair(OP, 'strides', options.strides ?? 1);
  const pad = pair(OP, 'pad', options.pad ?? 0, 0);
  const dilations = pair(OP, 'dilations', options.dilations ?? 1);
  const groups = assertInteger(OP, 'groups', options.groups ?? 1, 1);
  if (C % groups !== 0)
    throw argumentError(OP, 'groups', `a positive integer dividing the input channels C = ${C}`, groups);
  if (O % groups !== 0)
    throw argumentError(
      OP,
      'groups',
      `a positive integer dividing the output channels O = ${O} (weight dimension 3)`,
      groups,
    );
  if (weight.shape[2] !== C / groups) {
    throw argumentError(
      OP,
      'weight',
      `shape [kh, kw, C/groups = ${C / groups}, O] (input channels ${C}, groups ${groups})`,
      weight.shape,
    );
  }
  if (kh < 1 || kw < 1 || O < 1 || C < 1)
    throw argumentError(OP, 'weight', 'a kernel, input channels and output channels of at least 1', weight.shape);

  const conv = convGeometry(
    OP,
    input.shape,
    { kernel: [kh, kw], outChannels: O, arg: 'weight' },
    { stride: strides, padding: pad, dilation: dilations },
  );
  const { outHeight: Ho, outWidth: Wo } = conv;

  const K = kh * kw;
  checkShapes(OP, [{ name: 'offset', shape: offset.shape, expected: ['N', 'Ho', 'Wo', null] }], { N, Ho, Wo });
  const offsetChannels = offset.shape[3] as number;
  let offsetGroups: number;
  if (options.offsetGroups !== undefined) {
    offsetGroups = assertInteger(OP, 'offsetGroups', options.offsetGroups, 1);
    if (offsetChannels !== 2 * offsetGroups * K) {
      throw argumentError(
        OP,
        'offset',
        `${2 * offsetGroups * K} channels (2 * offsetGroups ${offsetGroups} * kh ${kh} * kw ${kw}) in dimension 3`,
        offset.shape,
      );
    }
  } else {
    if (offsetChannels < 2 * K || offsetChannels % (2 * K) !== 0) {
      throw argumentError(
        OP,
        'offset',
        `channels (dimension 3) a positive multiple of 2 * kh * kw = ${2 * K}`,
        offset.shape,
      );
    }
    offsetGroups = offsetChannels / (2 * K);
  }
  if (C % offsetGroups !== 0) {
    throw argumentError(OP, 'offsetGroups', `a positive integer dividing the input channels C = ${C}`, offsetGroups);
  }
  if (mask) {
    checkShapes(OP, [{ name: 'mask', shape: mask.shape, expected: ['N', 'Ho', 'Wo', offsetGroups * K] }], {
      N,
      Ho,
      Wo,
    });
  }
  if (bias) checkShapes(OP, [{ name: 'bias', shape: bias.shape, expected: ['O'] }], { O });

  return { ...conv, groups, offsetGroups };
}

/**
 * Deformable convolution v1 (no mask) and v2 (with mask), NHWC, matching `torchvision.ops.deform_conv2d`.
 *
 * input [N, H, W, C]; offset [N, Ho, Wo, 2*G*kh*kw] with channel 2*(g*K + k) the dy and 2*(g*K + k) + 1 the dx
 * of tap k = i*kw + j in offset group g (torchvision's order); weight HWIO [kh, kw, C/groups, O]. Input channel
 * c belongs to offset group c / (C/G). Tap k of output (ho, wo) samples the input bilinearly at
 * (ho*sh - ph + i*dh + dy, wo*sw - pw + j*dw + dx), zero outside the map; the samples, times the mask, form the
 * im2col matrix that multiplies the weight. Returns [N, Ho, Wo, O].
 *
 * The sampling is `@deformjs/sampling`'s fused bilinear gather (a composition of tf ops on backends without
 * fused kernels); gradients for input, offset, mask, weight and bias come from autodiff.
 */
export function deformConv2d(
  input: tf.Tensor,
  offset: tf.Tensor,
  weight: tf.Tensor,
  options: DeformConv2dOptions = {},
): tf.Tensor4D {
  const geometry = checkDeformConv2dArguments(input, offset, weight, options);
  const { mask = null, bias = null } = options;
  const { batch: N, outHeight: Ho, outWidth: Wo, inChannels: C, kernel } = geometry;
  const imagesPerChunk = Math.max(
    1,
    Math.floor(deformConv2dLimits.maxColumnElements / Math.max(1, Ho * Wo * kernel[0] * kernel[1] * C)),
  );
  if (N <= imagesPerChunk) return convolveImages(input, offset, mask, weight, bias, geometry);
  return tf.tidy(() => {
    const chunks: tf.Tensor[] = [];
    for (let n0 = 0; n0 < N; n0 += imagesPerChunk) {
      const n = Math.min(imagesPerChunk, N - n0);
      const images = (t: tf.Tensor) => tf.slice(t, [n0, 0, 0, 0], [n, -1, -1, -1]);
      chunks.push(
        convolveImages(images(input), images(offset), mask ? images(mask) : null, weight, bias, {
          ...geometry,
          batch: n,
        }),
      );
    }
    return tf.concat(chunks, 0) as tf.Tensor4D;
  });
}

/**
 * Bounds the im2col matrix (in float32 elements): a larger batch is convolved in chunks of whole images, so
 * inference memory stays flat. Exposed so tests can force chunking.
 */
export const deformConv2dLimits = { maxColumnElements: 1 << 25 };

function convolveImages(
  input: tf.Tensor,
  offset: tf.Tensor,
  mask: tf.Tensor | null,
  weight: tf.Tensor,
  bias: tf.Tensor | null,
  geometry: DeformConv2dGeometry,
): tf.Tensor4D {
  return tf.tidy(() => {
    const columns = deformableColumns(input, offset, mask, geometry);
    const { batch: N, outHeight: Ho, outWidth: Wo, outChannels: O } = geometry;
    const out = multiplyWeight(columns, weight, geometry);
    return tf.reshape(bias ? addBias(out, bias) : out, [N, Ho, Wo, O]) as tf.Tensor4D;
  });
}

/** The sampling im2col matrix [N*Ho*Wo, kh*kw*C], columns ordered (tap, channel) like HWIO weight rows. */
function deformableColumns(
  input: tf.Tensor,
  offset: tf.Tensor,
  mask: tf.Tensor | null,
  geometry: DeformConv2dGeometry,
): tf.Tensor2D {
  const { batch: N, inHeight: H, inWidth: W, inChannels: C, outHeight: Ho, outWidth: Wo, offsetGroups: G } = geometry;
  const [kh, kw] = geometry.kernel;
  const K = kh * kw;
  const Q = Ho * Wo;
  const value = tf.reshape(input, [N, H * W, G, C / G]);
  // Offsets come as (dy, dx) per tap; the gather takes (x, y). Reversed as rows of 2: webgl reverses rank <= 4 only.
  const shift = tf.reshape(tf.reverse(tf.reshape(offset, [N * Q * G * K, 2]), 1), [N, Q, G, K, 2]);
  const grid = tf.tensor(convTapGrid(geometry), [1, Q, 1, K, 2]);
  const locations = tf.reshape(tf.add(shift, grid), [N, Q, G, 1, K, 2]);
  const weights = mask ? tf.reshape(mask, [N, Q, G, 1, K]) : null;
  const samples = bilinearGather(value, [[H, W]], [0], locations, weights, { normalized: false, reduce: 'none' });
  return tf.reshape(samples, [N * Q, K * C]);
}

/** columns [N*Q, K*C] times the HWIO weight, one matmul per weight group: [N*Q, O]. */
function multiplyWeight(
  columns: tf.Tensor2D,
  weight: tf.Tensor,
  { inChannels: C, outChannels: O, kernel: [kh, kw], groups }: DeformConv2dGeometry,
): tf.Tensor2D {
  const K = kh * kw;
  if (groups === 1) return tf.matMul(columns, tf.reshape(weight, [K * C, O]) as tf.Tensor2D);
  const rows = columns.shape[0];
  const Cg = C / groups;
  const Og = O / groups;
  const byTap = tf.reshape(columns, [rows, K, C]);
  const outputs: tf.Tensor2D[] = [];
  for (let g = 0; g < groups; g++) {
    const groupColumns = tf.reshape(tf.slice(byTap, [0, 0, g * Cg], [rows, K, Cg]), [rows, K * Cg]) as tf.Tensor2D;
    const groupWeight = tf.reshape(tf.slice(weight, [0, 0, 0, g * Og], [kh, kw, Cg, Og]), [K * Cg, Og]) as tf.Tensor2D;
    outputs.push(tf.matMul(groupColumns, groupWeight));
  }
  return tf.concat(outputs, 1);
}
