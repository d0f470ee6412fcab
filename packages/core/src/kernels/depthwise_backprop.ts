import type { TensorInfo } from '@tensorflow/tfjs-core';
import { argumentError } from '../errors';
import { convGeometry, outputShape, type ArrayBackend, type PadAttr, type RoundingAttr } from './backend_arrays';
import { depthwiseBackpropFilter, depthwiseBackpropInput } from './depthwise_impl';
import { flipTaps, stride1InputGradientPadding, type ConvGeometry } from './conv_impl';

/** The attrs tfjs's depthwiseConv2dNativeBackprop{Filter,Input} ops pass. NHWC only, as the op itself. */
export interface DepthwiseBackpropAttrs {
  strides: number | [number, number];
  dilations?: number | [number, number];
  pad: PadAttr;
  dimRoundingMode?: RoundingAttr;
}

function rank4(op: string, name: string, shape: readonly number[]): [number, number, number, number] {
  if (shape.length !== 4) throw argumentError(op, name, 'rank 4', shape);
  return shape as [number, number, number, number];
}

function checkShapes(op: string, g: ConvGeometry, dy: TensorInfo, filterShape: readonly number[]): void {
  if (filterShape[2] !== g.inChannels) {
    throw argumentError(op, 'filter', `in-channels (dimension 2) = ${g.inChannels}, the input's channels`, filterShape);
  }
  const expected = outputShape(g);
  if (dy.shape.length !== 4 || dy.shape.some((d, i) => d !== expected[i])) {
    throw argumentError(op, 'dy', `shape [${expected.join(', ')}] (the convolution's output)`, dy.shape);
  }
}

export function depthwiseConv2dBackpropFilter(
  arrays: ArrayBackend,
  x: TensorInfo,
  dy: TensorInfo,
  attrs: DepthwiseBackpropAttrs & { filterShape: [number, number, number, number] },
): TensorInfo {
  const op = 'DepthwiseConv2dNativeBackpropFilter';
  const filterShape = rank4(op, 'filterShape', attrs.filterShape);
  const g = convGeometry(rank4(op, 'x', x.shape), filterShape, attrs.strides, attrs.dilations, attrs.pad, attrs.dimRoundingMode, true);
  checkShapes(op, g, dy, filterShape);
  const dw = arrays.alloc([...filterShape]);
  depthwiseBackpropFilter(arrays.view(x), arrays.view(dy), g, arrays.view(dw));
  return dw;
}

export function depthwiseConv2dBackpropInput(
  arrays: ArrayBackend,
  dy: TensorInfo,
  filter: TensorInfo,
  attrs: DepthwiseBackpropAttrs & { inputShape: [number, number, number, number] },
): TensorInfo {
  const op = 'DepthwiseConv2dNativeBackpropInput';
  const inputShape = rank4(op, 'inputShape', attrs.inputShape);
  const g = convGeometry(inputShape, rank4(op, 'filter', filter.shape), attrs.strides, attrs.dilations, attrs.pad, attrs.dimRoundingMode, true);
  checkShapes(op, g, dy, filter.shape);
  // Channel multiplier 1, stride 1: dx is a depthwise conv of dy with the flipped filter, run by the backend.
  const byConv = g.outChannels === g.inChannels ? stride1InputGradientPadding(g) : null;
  if (arrays.depthwiseConv2d && byConv) {
    const flipped = arrays.alloc([...filter.shape]);
    flipTaps(arrays.view(filter), g.filterHeight, g.filterWidth, g.inChannels, arrays.view(flipped));
    const dx = arrays.depthwiseConv2d(dy, flipped, [g.dilationHeight, g.dilationWidth], byConv);
    arrays.dispose(flipped);
    return { dataId: dx.dataId, shape: [...inputShape], dtype: 'float32' };
  }
  const dx = arrays.alloc([...inputShape]);
  depthwiseBackpropInput(arrays.view(dy), arrays.view(filter), g, arrays.view(dx));
  return dx;
}
