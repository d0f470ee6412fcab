import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { wasmArrays } from '../../backend_arrays';
import { conv2dBackpropFilter, type Conv2DBackpropAttrs } from '../conv2d_backprop';

const kernelFunc: KernelFunc = ({ inputs, backend, attrs }) =>
  conv2dBackpropFilter(
    wasmArrays(backend),
    inputs.x as TensorInfo,
    inputs.dy as TensorInfo,
    attrs as unknown as Conv2DBackpropAttrs & { filterShape: [number, number, number, number] },
  );

export const wasmConv2DBackpropFilter: KernelConfig = {
  kernelName: 'Conv2DBackpropFilter',
  backendName: 'wasm',
  kernelFunc,
};
