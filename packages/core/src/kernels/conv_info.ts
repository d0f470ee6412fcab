import { backend_util } from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { argumentError } from '@deformjs/validate';
import type { ConvGeometry } from './conv_impl';

type Pair = number | [number, number];
export type PadAttr = 'same' | 'valid' | number | backend_util.ExplicitPadding;
export type RoundingAttr = 'floor' | 'round' | 'ceil' | undefined;

/** Resolves tfjs conv attrs the way tfjs's own kernels do (`backend_util.computeConv2DInfo`). */
export function convGeometry(
  inShape: [number, number, number, number],
  filterShape: [number, number, number, number],
  strides: Pair,
  dilations: Pair | undefined,
  pad: PadAttr,
  dimRoundingMode: RoundingAttr,
  depthwise: boolean,
  dataFormat: 'NHWC' | 'NCHW' = 'NHWC',
): ConvGeometry {
  const info = backend_util.computeConv2DInfo(
    inShape,
    filterShape,
    strides,
    dilations ?? 1,
    pad,
    dimRoundingMode,
    depthwise,
    backend_util.convertConv2DDataFormat(dataFormat),
  );
  return {
    batch: info.batchSize,
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    inChannels: info.inChannels,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    outChannels: info.outChannels,
    filterHeight: info.filterHeight,
    filterWidth: info.filterWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    dilationHeight: info.dilationHeight,
    dilationWidth: info.dilationWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
    channelsLast: info.dataFormat === 'channelsLast',
  };
}

/** The dy shape a geometry implies, in its data format. */
export function outputShape(g: ConvGeometry): number[] {
  return g.channelsLast
    ? [g.batch, g.outHeight, g.outWidth, g.outChannels]
    : [g.batch, g.outChannels, g.outHeight, g.outWidth];
}

export function checkRank4(op: string, name: string, shape: readonly number[]): [number, number, number, number] {
  if (shape.length !== 4) throw argumentError(op, name, 'rank 4', shape);
  return shape as [number, number, number, number];
}

/** The filter's in-channels must be the input's, and dy must have the convolution's output shape. */
export function checkGradientShapes(op: string, g: ConvGeometry, dy: TensorInfo, filterShape: readonly number[]): void {
  if (filterShape[2] !== g.inChannels) {
    throw argumentError(op, 'filter', `in-channels (dimension 2) = ${g.inChannels}, the input's channels`, filterShape);
  }
  const expected = outputShape(g);
  if (dy.shape.length !== 4 || dy.shape.some((d, i) => d !== expected[i])) {
    throw argumentError(op, 'dy', `shape [${expected.join(', ')}] (the convolution's output)`, dy.shape);
  }
}
