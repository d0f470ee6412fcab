import { backend_util } from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { argumentError } from '@deformjs/validate';
import type { ConvKernelGeometry } from './conv_impl';

type Pair = number | [number, number];
type Shape4 = [number, number, number, number];

/** The attrs tfjs's conv2d and depthwise gradient ops pass (dilations and dataFormat where they have them). */
export interface ConvBackpropAttrs {
  strides: Pair;
  pad: 'same' | 'valid' | number | backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  /** tfjs's conv2d gradients never pass dilations > 1; direct callers may. */
  dilations?: Pair;
  /** Conv2D only; depthwise is NHWC. */
  dataFormat?: 'NHWC' | 'NCHW';
}
export type FilterGradientAttrs = ConvBackpropAttrs & { filterShape: Shape4 };
export type InputGradientAttrs = ConvBackpropAttrs & { inputShape: Shape4 };

/** tfjs's resolved conv or pool info (`backend_util.computeConv2DInfo` / `computePool2DInfo`) as a geometry. */
export function geometryFromConvInfo(info: backend_util.Conv2DInfo): ConvKernelGeometry {
  return {
    batch: info.batchSize,
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    inChannels: info.inChannels,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    outChannels: info.outChannels,
    kernel: [info.filterHeight, info.filterWidth],
    stride: [info.strideHeight, info.strideWidth],
    padding: [info.padInfo.top, info.padInfo.left],
    dilation: [info.dilationHeight, info.dilationWidth],
    channelsLast: info.dataFormat === 'channelsLast',
  };
}

/**
 * The geometry of a conv gradient kernel, resolved from its attrs the way tfjs's own kernels do, after checking
 * that the input and filter shapes (each [argument name, shape]) have rank 4, that the filter's in-channels are
 * the input's and that dy has the convolution's output shape.
 */
export function backpropGeometry(
  op: string,
  input: [string, readonly number[]],
  filter: [string, readonly number[]],
  dy: TensorInfo,
  attrs: ConvBackpropAttrs,
  depthwise: boolean,
): ConvKernelGeometry {
  const inputShape = checkRank4(op, ...input);
  const filterShape = checkRank4(op, ...filter);
  const info = backend_util.computeConv2DInfo(
    inputShape,
    filterShape,
    attrs.strides,
    attrs.dilations ?? 1,
    attrs.pad,
    attrs.dimRoundingMode,
    depthwise,
    backend_util.convertConv2DDataFormat(attrs.dataFormat ?? 'NHWC'),
  );
  const g = geometryFromConvInfo(info);
  if (filterShape[2] !== g.inChannels) {
    throw argumentError(op, 'filter', `in-channels (dimension 2) = ${g.inChannels}, the input's channels`, filterShape);
  }
  const expected = g.channelsLast
    ? [g.batch, g.outHeight, g.outWidth, g.outChannels]
    : [g.batch, g.outChannels, g.outHeight, g.outWidth];
  if (dy.shape.length !== 4 || dy.shape.some((d, i) => d !== expected[i])) {
    throw argumentError(op, 'dy', `shape [${expected.join(', ')}] (the convolution's output)`, dy.shape);
  }
  return g;
}

function checkRank4(op: string, name: string, shape: readonly number[]): Shape4 {
  if (shape.length !== 4) throw argumentError(op, name, 'rank 4', shape);
  return shape as Shape4;
}
