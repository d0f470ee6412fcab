import * as tf from '@tensorflow/tfjs-core';
import type { DataType, KernelBackend, NamedAttrMap, TensorInfo, backend_util } from '@tensorflow/tfjs-core';
import { sizeOf } from '@deformjs/validate';

/**
 * The one adapter between deformjs's typed-array kernels (fused kernels, training kernels, the wasm matmul
 * guard) and the cpu and wasm backends: fresh buffers, views of them, the backend's own matmul, and disposal.
 * One implementation per backend, so each kernel's algorithm is written once.
 */
export interface ArrayBackend {
  /** A new tensor buffer. On cpu it arrives zero-filled; on wasm its contents are unspecified. */
  alloc(shape: number[], dtype?: 'float32' | 'int32'): TensorInfo;
  /** A view of a tensor's values. On wasm it is a heap view: take views after the last `alloc`/`matMul`. */
  view(info: TensorInfo): Float32Array;
  viewInt(info: TensorInfo): Int32Array;
  /** A view of a float32 or int32 tensor's values in its own dtype. */
  values(info: TensorInfo): Float32Array | Int32Array;
  /** [M, K] x [K, N] -> [M, N] with the backend's BatchMatMul kernel (XNNPACK on wasm). */
  matMul(a: TensorInfo, aShape: [number, number], b: TensorInfo, bShape: [number, number]): TensorInfo;
  /**
   * A stride-1 NHWC conv2d with explicit padding through the backend's own Conv2D kernel, where that kernel is
   * fast (XNNPACK on wasm); absent where it is not.
   */
  conv2d?(
    x: TensorInfo,
    filter: TensorInfo,
    dilations: [number, number],
    pad: backend_util.ExplicitPadding,
  ): TensorInfo;
  /** The same for a depthwise conv2d (the backend's DepthwiseConv2dNative). */
  depthwiseConv2d?(
    x: TensorInfo,
    filter: TensorInfo,
    dilations: [number, number],
    pad: backend_util.ExplicitPadding,
  ): TensorInfo;
  /** Frees an intermediate this kernel made. */
  dispose(info: TensorInfo): void;
}

interface WasmBackendLike extends KernelBackend {
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array;
}

interface CpuBackendLike extends KernelBackend {
  data: { get(dataId: object): { values: unknown } };
  makeTensorInfo(shape: number[], dtype: DataType, values: Float32Array | Int32Array): TensorInfo;
}

/** Calls another registered kernel of the same backend from inside a kernel. */
function runKernelFunc(
  kernelName: string,
  backendName: string,
  backend: KernelBackend,
  inputs: Record<string, TensorInfo>,
  attrs: object,
): TensorInfo {
  const kernel = tf.getKernel(kernelName, backendName);
  if (!kernel)
    throw new Error(`deformjs training kernels: ${kernelName} is not registered for backend '${backendName}'`);
  return kernel.kernelFunc({ inputs, backend, attrs: attrs as NamedAttrMap }) as TensorInfo;
}

function runMatMul(
  backendName: string,
  backend: KernelBackend,
  a: TensorInfo,
  aShape: [number, number],
  b: TensorInfo,
  bShape: [number, number],
): TensorInfo {
  // Both operands untransposed with batch 1: the wasm backend's XNNPACK path (any transpose takes its slow loop).
  const out = runKernelFunc(
    'BatchMatMul',
    backendName,
    backend,
    {
      a: { dataId: a.dataId, shape: [1, ...aShape], dtype: 'float32' },
      b: { dataId: b.dataId, shape: [1, ...bShape], dtype: 'float32' },
    },
    { transposeA: false, transposeB: false },
  );
  return { dataId: out.dataId, shape: [aShape[0], bShape[1]], dtype: 'float32' };
}

/** `backend` is what tfjs hands a kernel function (typed `{}` there). */
export function wasmArrays(kernelBackend: object): ArrayBackend {
  const backend = kernelBackend as KernelBackend;
  const wasm = backend as WasmBackendLike;
  return {
    alloc: (shape, dtype = 'float32') => wasm.makeOutput(shape, dtype),
    view: (info) => wasm.typedArrayFromHeap({ ...info, dtype: 'float32' }) as Float32Array,
    viewInt: (info) => wasm.typedArrayFromHeap({ ...info, dtype: 'int32' }) as Int32Array,
    values: (info) => wasm.typedArrayFromHeap(info),
    matMul: (a, aShape, b, bShape) => runMatMul('wasm', backend, a, aShape, b, bShape),
    conv2d: (x, filter, dilations, pad) =>
      runKernelFunc(
        'Conv2D',
        'wasm',
        backend,
        { x, filter },
        { strides: 1, dilations, pad, dataFormat: 'NHWC', dimRoundingMode: undefined },
      ),
    depthwiseConv2d: (x, filter, dilations, pad) =>
      runKernelFunc(
        'DepthwiseConv2dNative',
        'wasm',
        backend,
        { x, filter },
        { strides: 1, dilations, pad, dataFormat: 'NHWC', dimRoundingMode: undefined },
      ),
    dispose: (info) => void backend.disposeData(info.dataId),
  };
}

export function cpuArrays(kernelBackend: object): ArrayBackend {
  const backend = kernelBackend as KernelBackend;
  const cpu = backend as CpuBackendLike;
  return {
    alloc: (shape, dtype = 'float32') =>
      cpu.makeTensorInfo(
        shape,
        dtype,
        dtype === 'int32' ? new Int32Array(sizeOf(shape)) : new Float32Array(sizeOf(shape)),
      ),
    view: (info) => cpu.data.get(info.dataId).values as Float32Array,
    viewInt: (info) => cpu.data.get(info.dataId).values as Int32Array,
    values: (info) => cpu.data.get(info.dataId).values as Float32Array | Int32Array,
    matMul: (a, aShape, b, bShape) => runMatMul('cpu', backend, a, aShape, b, bShape),
    dispose: (info) => void backend.disposeData(info.dataId),
  };
}

/** The adapter of a fused backend ('cpu' or 'wasm'), from what tfjs hands a kernel function. */
export function arraysOf(backendName: 'cpu' | 'wasm', kernelBackend: object): ArrayBackend {
  return backendName === 'wasm' ? wasmArrays(kernelBackend) : cpuArrays(kernelBackend);
}
