import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { wasmArrays } from '../../backend_arrays';
import { unsortedSegmentSum } from '../unsorted_segment_sum';

const kernelFunc: KernelFunc = ({ inputs, backend, attrs }) =>
  unsortedSegmentSum(
    wasmArrays(backend),
    inputs.x as TensorInfo,
    inputs.segmentIds as TensorInfo,
    attrs as unknown as { numSegments: number },
  );

export const wasmUnsortedSegmentSum: KernelConfig = {
  kernelName: 'UnsortedSegmentSum',
  backendName: 'wasm',
  kernelFunc,
};
