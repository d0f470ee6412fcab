import { argumentError } from '@deformjs/validate';

/**
 * The output size [Ho, Wo] of a 2-d convolution with symmetric zero padding (PyTorch's formula, floor mode):
 * floor((H + 2p - (d(k - 1) + 1)) / s) + 1. Throws, blaming `op`'s argument `arg` (described by `actual`), when
 * the dilated kernel is bigger than the padded input. The one place deformjs's ops compute it.
 */
export function convOutputSize(
  op: string,
  arg: string,
  actual: unknown,
  input: readonly [number, number],
  kernel: readonly [number, number],
  stride: readonly [number, number],
  padding: readonly [number, number],
  dilation: readonly [number, number],
): [number, number] {
  const extent = [dilation[0] * (kernel[0] - 1) + 1, dilation[1] * (kernel[1] - 1) + 1];
  const padded = [input[0] + 2 * padding[0], input[1] + 2 * padding[1]];
  if (padded[0] < extent[0] || padded[1] < extent[1]) {
    throw argumentError(
      op,
      arg,
      `a dilated kernel (${extent[0]} x ${extent[1]}) no bigger than the padded input (${padded[0]} x ${padded[1]})`,
      actual,
    );
  }
  return [Math.floor((padded[0] - extent[0]) / stride[0]) + 1, Math.floor((padded[1] - extent[1]) / stride[1]) + 1];
}

/**
 * The undeformed input positions (x, y) of every tap of every output pixel, [Ho*Wo, kh*kw, 2] row-major: tap
 * (i, j) of output (ho, wo) reads (wo*sw - pw + j*dw, ho*sh - ph + i*dh). What deformable ops add offsets to.
 */
export function convTapGrid(
  output: readonly [number, number],
  kernel: readonly [number, number],
  stride: readonly [number, number],
  padding: readonly [number, number],
  dilation: readonly [number, number],
): Float32Array {
  const [Ho, Wo] = output;
  const [kh, kw] = kernel;
  const K = kh * kw;
  const grid = new Float32Array(Ho * Wo * K * 2);
  for (let ho = 0; ho < Ho; ho++) {
    for (let wo = 0; wo < Wo; wo++) {
      const base = (ho * Wo + wo) * K * 2;
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          const k = i * kw + j;
          grid[base + 2 * k] = wo * stride[1] - padding[1] + j * dilation[1];
          grid[base + 2 * k + 1] = ho * stride[0] - padding[0] + i * dilation[0];
        }
      }
    }
  }
  return grid;
}
