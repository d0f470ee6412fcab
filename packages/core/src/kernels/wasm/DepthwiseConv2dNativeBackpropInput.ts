import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { wasmArrays } from '../../backend_arrays';
import type { InputGradientAttrs } from '../conv_info';
import { depthwiseConv2dBackpropInput } from '../depthwise_backprop';

const kernelFunc: KernelFunc = ({ inputs, backend, attrs }) =>
  depthwiseConv2dBackpropInput(
    wasmArrays(backend),
    inputs.dy as TensorInfo,
    inputs.filter as TensorInfo,
    attrs as unknown as InputGradientAttrs,
  );

export const wasmDepthwiseConv2dNativeBackpropInput: KernelConfig = {
  kernelName: 'DepthwiseConv2dNativeBackpropInput',
  backendName: 'wasm',
  kernelFunc,
};
