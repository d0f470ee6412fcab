import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { wasmArrays } from '../../backend_arrays';
import { conv2dBackpropInput, type Conv2DBackpropAttrs } from '../conv2d_backprop';

const kernelFunc: KernelFunc = ({ inputs, backend, attrs }) =>
  conv2dBackpropInput(
    wasmArrays(backend),
    inputs.dy as TensorInfo,
    inputs.filter as TensorInfo,
    attrs as unknown as Conv2DBackpropAttrs & { inputShape: [number, number, number, number] },
  );

/** Replaces the wasm backend's stock kernel, a direct loop about 10x slower than the forward conv. */
export const wasmConv2DBackpropInput: KernelConfig = {
  kernelName: 'Conv2DBackpropInput',
  backendName: 'wasm',
  kernelFunc,
};
