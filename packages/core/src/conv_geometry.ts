import { argumentError } from '@deformjs/validate';

/**
 * Every size of a 2-d convolution over an NHWC input, resolved: the one geometry of deformjs's conv ops (dcn,
 * sparse-interp, deformable-kernels) and of core's conv gradient kernels. Pairs are [height, width].
 */
export interface ConvGeometry {
  batch: number;
  inHeight: number;
  inWidth: number;
  inChannels: number;
  outHeight: number;
  outWidth: number;
  /** Conv: the filter's output channels. Depthwise: inChannels * channel multiplier. */
  outChannels: number;
  kernel: [number, number];
  stride: [number, number];
  /**
   * Zero padding before the first row and column [top, left]. PyTorch pads both sides alike; tfjs's 'same' may
   * pad one more after, which outHeight and outWidth already count.
   */
  padding: [number, number];
  dilation: [number, number];
}

/** The conv attributes of `convGeometry`, already resolved to pairs (core's `pair`). */
export interface ConvAttributes {
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
}

/**
 * Resolves the geometry of a convolution of `input` [N, H, W, C] with a kernel `filter.kernel` giving
 * `filter.outChannels` channels, symmetric padding. When the dilated kernel is bigger than the padded input the
 * error blames `op`'s argument `filter.arg`, described by `filter.actual` (by default the kernel and dilation).
 */
export function convGeometry(
  op: string,
  input: readonly number[],
  filter: { kernel: readonly [number, number]; outChannels: number; arg: string; actual?: unknown },
  attrs: ConvAttributes,
): ConvGeometry {
  const [batch, inHeight, inWidth, inChannels] = input;
  const kernel: [number, number] = [filter.kernel[0], filter.kernel[1]];
  const { stride, padding, dilation } = attrs;
  const actual = filter.actual ?? `kernel ${kernel[0]} x ${kernel[1]} with dilations [${dilation.join(', ')}]`;
  const [outHeight, outWidth] = convOutputSize(
    op,
    filter.arg,
    actual,
    [inHeight, inWidth],
    kernel,
    stride,
    padding,
    dilation,
  );
  return {
    batch,
    inHeight,
    inWidth,
    inChannels,
    outHeight,
    outWidth,
    outChannels: filter.outChannels,
    kernel,
    stride,
    padding,
    dilation,
  };
}

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
export function convTapGrid(g: ConvGeometry): Float32Array {
  const { outHeight: Ho, outWidth: Wo, stride, padding, dilation } = g;
  const [kh, kw] = g.kernel;
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
