import { backend_util } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { wasmArrays } from '../../backend_arrays';
import { runSplit, type SplitKernel } from '../../thread_split';
import { geometryFromConvInfo } from '../conv_info';
import { loopScalars } from '../conv_impl';
import { maxPoolGradImpl } from '../max_pool_grad_impl';

/** Split over channels across the wasm threads (core's runSplit): bit-identical to one thread. */
const MAX_POOL_GRAD: SplitKernel = { name: 'maxPoolGrad', run: maxPoolGradImpl, uses: [loopScalars] };
/** Window reads below which a worker's wake-up costs more than it saves. */
const MIN_SPLIT_READS = 2 ** 20;

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
  const g = geometryFromConvInfo(info);
  const reads = dy.shape.reduce((a, b) => a * b, 1) * g.kernel[0] * g.kernel[1];
  runSplit(MAX_POOL_GRAD, [arrays.view(input), arrays.view(dy), dxValues, g], g.inChannels, reads >= MIN_SPLIT_READS);
  return dx;
};

export const wasmMaxPoolGrad: KernelConfig = { kernelName: 'MaxPoolGrad', backendName: 'wasm', kernelFunc };
