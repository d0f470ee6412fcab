import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { ArrayBackend } from '../backend_arrays';
import { checkGradientShapes, checkRank4, convGeometry, type PadAttr, type RoundingAttr } from './conv_info';
import { depthwiseBackpropFilter, depthwiseBackpropInput } from './depthwise_impl';
import { flipTaps, stride1InputGradientPadding } from './conv_impl';

/** The attrs tfjs's depthwiseConv2dNativeBackprop{Filter,Input} ops pass. NHWC only, as the op itself. */
export interface DepthwiseBackpropAttrs {
  strides: number | [number, number];
  dilations?: number | [number, number];
  pad: PadAttr;
  dimRoundingMode?: RoundingAttr;
}

export function depthwiseConv2dBackpropFilter(
  arrays: ArrayBackend,
  x: TensorInfo,
  dy: TensorInfo,
  attrs: DepthwiseBackpropAttrs & { filterShape: [number, number, number, number] },
): TensorInfo {
  const op = 'DepthwiseConv2dNativeBackpropFilter';
  const filterShape = checkRank4(op, 'filterShape', attrs.filterShape);
  const g = convGeometry(
    checkRank4(op, 'x', x.shape),
    filterShape,
    attrs.strides,
    attrs.dilations,
    attrs.pad,
    attrs.dimRoundingMode,
    true,
  );
  checkGradientShapes(op, g, dy, filterShape);
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
  const inputShape = checkRank4(op, 'inputShape', attrs.inputShape);
  const g = convGeometry(
    inputShape,
    checkRank4(op, 'filter', filter.shape),
    attrs.strides,
    attrs.dilations,
    attrs.pad,
    attrs.dimRoundingMode,
    true,
  );
  checkGradientShapes(op, g, dy, filter.shape);
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
