import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { wasmArrays } from '../../backend_arrays';
import { depthwiseConv2dBackpropFilter, type DepthwiseBackpropAttrs } from '../depthwise_backprop';

const kernelFunc: KernelFunc = ({ inputs, backend, attrs }) =>
  depthwiseConv2dBackpropFilter(
    wasmArrays(backend),
    inputs.x as TensorInfo,
    inputs.dy as TensorInfo,
    attrs as unknown as DepthwiseBackpropAttrs & { filterShape: [number, number, number, number] },
  );

export const wasmDepthwiseConv2dNativeBackpropFilter: KernelConfig = {
  kernelName: 'DepthwiseConv2dNativeBackpropFilter',
  backendName: 'wasm',
  kernelFunc,
};
