import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { wasmArrays } from '../../backend_arrays';
import type { FilterGradientAttrs } from '../conv_info';
import { conv2dBackpropFilter } from '../conv2d_backprop';

const kernelFunc: KernelFunc = ({ inputs, backend, attrs }) =>
  conv2dBackpropFilter(
    wasmArrays(backend),
    inputs.x as TensorInfo,
    inputs.dy as TensorInfo,
    attrs as unknown as FilterGradientAttrs,
  );

export const wasmConv2DBackpropFilter: KernelConfig = {
  kernelName: 'Conv2DBackpropFilter',
  backendName: 'wasm',
  kernelFunc,
};
