import { backend_util } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { wasmArrays } from '../../backend_arrays';
import { geometryFromConvInfo } from '../conv_info';
import { maxPoolGradImpl } from '../max_pool_grad_impl';

interface MaxPoolGradAttrs {
  filterSize: number | [number, number];
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

// tfjs-backend-wasm 4.22's MaxPoolGrad drops gradient where a window holds tied maxima (ReLU zeros, one-hot
// maps), so training through a max pool on wasm was silently wrong; this one follows the cpu backend's rule.
const kernelFunc: KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, input } = inputs as { dy: TensorInfo; input: TensorInfo };
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as MaxPoolGradAttrs;
  const info = backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    filterSize,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const arrays = wasmArrays(backend);
  const dx = arrays.alloc([...input.shape]);
  const dxValues = arrays.view(dx);
  dxValues.fill(0);
  maxPoolGradImpl(arrays.view(input), arrays.view(dy), dxValues, geometryFromConvInfo(info));
  return dx;
};

export const wasmMaxPoolGrad: KernelConfig = { kernelName: 'MaxPoolGrad', backendName: 'wasm', kernelFunc };
