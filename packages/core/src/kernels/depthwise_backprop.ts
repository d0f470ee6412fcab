import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { ArrayBackend } from '../backend_arrays';
import { backpropGeometry, type FilterGradientAttrs, type InputGradientAttrs } from './conv_info';
import { depthwiseBackpropFilter, depthwiseBackpropInput } from './depthwise_impl';
import { flipTaps, stride1InputGradientPadding } from './conv_impl';

export function depthwiseConv2dBackpropFilter(
  arrays: ArrayBackend,
  x: TensorInfo,
  dy: TensorInfo,
  attrs: FilterGradientAttrs,
): TensorInfo {
  const { filterShape } = attrs;
  const op = 'DepthwiseConv2dNativeBackpropFilter';
  const g = backpropGeometry(op, ['x', x.shape], ['filterShape', filterShape], dy, attrs, true);
  const dw = arrays.alloc([...filterShape]);
  depthwiseBackpropFilter(arrays.view(x), arrays.view(dy), g, arrays.view(dw));
  return dw;
}

export function depthwiseConv2dBackpropInput(
  arrays: ArrayBackend,
  dy: TensorInfo,
  filter: TensorInfo,
  attrs: InputGradientAttrs,
): TensorInfo {
  const { inputShape } = attrs;
  const op = 'DepthwiseConv2dNativeBackpropInput';
  const g = backpropGeometry(op, ['inputShape', inputShape], ['filter', filter.shape], dy, attrs, true);
  // Channel multiplier 1, stride 1: dx is a depthwise conv of dy with the flipped filter, run by the backend.
  const byConv = g.outChannels === g.inChannels ? stride1InputGradientPadding(g) : null;
  if (arrays.depthwiseConv2d && byConv) {
    const flipped = arrays.alloc([...filter.shape]);
    flipTaps(arrays.view(filter), g.kernel[0], g.kernel[1], g.inChannels, arrays.view(flipped));
    const dx = arrays.depthwiseConv2d(dy, flipped, g.dilation, byConv);
    arrays.dispose(flipped);
    return { dataId: dx.dataId, shape: [...inputShape], dtype: 'float32' };
  }
  const dx = arrays.alloc([...inputShape]);
  depthwiseBackpropInput(arrays.view(dy), arrays.view(filter), g, arrays.view(dx));
  return dx;
}
