import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { wasmArrays } from '../../backend_arrays';
import { depthwiseConv2dBackpropInput, type DepthwiseBackpropAttrs } from '../depthwise_backprop';

const kernelFunc: KernelFunc = ({ inputs, backend, attrs }) =>
  depthwiseConv2dBackpropInput(
    wasmArrays(backend),
    inputs.dy as TensorInfo,
    inputs.filter as TensorInfo,
    attrs as unknown as DepthwiseBackpropAttrs & { inputShape: [number, number, number, number] },
  );

export const wasmDepthwiseConv2dNativeBackpropInput: KernelConfig = {
  kernelName: 'DepthwiseConv2dNativeBackpropInput',
  backendName: 'wasm',
  kernelFunc,
};
