import * as tf from '@tensorflow/tfjs-core';
import { argumentError, assertDtype, checkShapes, convGeometry, pair, type ConvGeometry } from '@deformjs/core';

/** The convolution attributes every Deformable Kernels op takes (PyTorch's names; padding is symmetric, explicit). */
export interface DeformKernelOptions {
  /** The effective kernel k (taps per output), a number or [kh, kw]; the scope comes from the weight. */
  kernelSize: number | [number, number];
  stride?: number | [number, number];
  /** Zero padding of each side (PyTorch's `padding`): a number or [padHeight, padWidth]. */
  padding?: number | [number, number];
  dilation?: number | [number, number];
}

/** Every size of a Deformable Kernels op, resolved and checked: a depthwise conv geometry and the weight's scope. */
export interface DeformKernelGeometry extends ConvGeometry {
  /** The weight's spatial size [scopeH, scopeW]. */
  scope: [number, number];
}

/**
 * Checks `input` [N, H, W, C] and the depthwise scope `weight` [scopeH, scopeW, C, 1] and resolves the output
 * size from the conv attributes. Errors name `op`, the argument, the expectation and what came.
 */
export function resolveGeometry(
  op: string,
  input: tf.Tensor,
  weight: tf.Tensor,
  options: DeformKernelOptions,
): DeformKernelGeometry {
  for (const [name, t] of [
    ['input', input],
    ['weight', weight],
  ] as const) {
    if (!(t instanceof tf.Tensor)) throw argumentError(op, name, 'a tensor', t);
    assertDtype(op, name, t.dtype, ['float32']);
  }
  if (options === null || typeof options !== 'object' || options.kernelSize === undefined) {
    throw argumentError(
      op,
      'options.kernelSize',
      'the effective kernel size (a number or [kh, kw])',
      options?.kernelSize,
    );
  }
  const { N, C, sH, sW } = checkShapes(op, [
    { name: 'input', shape: input.shape, expected: ['N', 'H', 'W', 'C'] },
    { name: 'weight', shape: weight.shape, expected: ['sH', 'sW', 'C', 1] },
  ]);
  if (N < 1) throw argumentError(op, 'input', 'a batch of at least 1 image', input.shape);
  const kernel = pair(op, 'kernelSize', options.kernelSize);
  if (sH < kernel[0] || sW < kernel[1])
    throw argumentError(op, 'weight', `a scope [scopeH, scopeW, C, 1] at least kernelSize [${kernel}]`, weight.shape);
  const stride = pair(op, 'stride', options.stride ?? 1);
  const padding = pair(op, 'padding', options.padding ?? 0, 0);
  const dilation = pair(op, 'dilation', options.dilation ?? 1);
  const filter = { kernel, outChannels: C, arg: 'input', actual: input.shape };
  return { ...convGeometry(op, input.shape, filter, { stride, padding, dilation }), scope: [sH, sW] };
}

/**
 * Checks per-position kernel deltas [N, Ho, Wo, R*kh*kw*2] and returns R, the number of rotation groups
 * (which must divide the channels).
 */
export function checkDeltas(op: string, name: string, deltas: tf.Tensor, g: DeformKernelGeometry): number {
  if (!(deltas instanceof tf.Tensor)) throw argumentError(op, name, 'a tensor', deltas);
  assertDtype(op, name, deltas.dtype, ['float32']);
  const taps2 = 2 * g.kernel[0] * g.kernel[1];
  checkShapes(op, [{ name, shape: deltas.shape, expected: ['N', 'Ho', 'Wo', null] }], {
    N: g.batch,
    Ho: g.outHeight,
    Wo: g.outWidth,
  });
  const channels = deltas.shape[3] as number;
  const groups = channels / taps2;
  if (!Number.isInteger(groups) || groups < 1 || g.inChannels % groups !== 0) {
    throw argumentError(
      op,
      name,
      `channels (dimension 3) R * kh * kw * 2 = R * ${taps2} with R rotation groups dividing C = ${g.inChannels}`,
      deltas.shape,
    );
  }
  return groups;
}
