import * as tf from '@tensorflow/tfjs-core';
import { backend_util } from '@tensorflow/tfjs-core';
import type { DataType, KernelBackend, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import { argumentError } from '@deformjs/validate';
import type { ConvGeometry } from './conv_impl';

/**
 * The few things the training kernels need from a backend, over typed arrays: fresh buffers, views of them,
 * the backend's own matmul, and disposal. One implementation per backend, so each kernel's algorithm is written
 * once.
 */
export interface ArrayBackend {
  /** A new tensor buffer. On cpu it arrives zero-filled; on wasm its contents are unspecified. */
  alloc(shape: number[], dtype?: 'float32' | 'int32'): TensorInfo;
  /** A view of a tensor's values. On wasm it is a heap view: take views after the last `alloc`/`matMul`. */
  view(info: TensorInfo): Float32Array;
  viewInt(info: TensorInfo): Int32Array;
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
    matMul: (a, aShape, b, bShape) => runMatMul('cpu', backend, a, aShape, b, bShape),
    dispose: (info) => void backend.disposeData(info.dataId),
  };
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

type Pair = number | [number, number];
export type PadAttr = 'same' | 'valid' | number | backend_util.ExplicitPadding;
export type RoundingAttr = 'floor' | 'round' | 'ceil' | undefined;

/** Resolves tfjs conv attrs the way tfjs's own kernels do (`backend_util.computeConv2DInfo`). */
export function convGeometry(
  inShape: [number, number, number, number],
  filterShape: [number, number, number, number],
  strides: Pair,
  dilations: Pair | undefined,
  pad: PadAttr,
  dimRoundingMode: RoundingAttr,
  depthwise: boolean,
  dataFormat: 'NHWC' | 'NCHW' = 'NHWC',
): ConvGeometry {
  const info = backend_util.computeConv2DInfo(
    inShape,
    filterShape,
    strides,
    dilations ?? 1,
    pad,
    dimRoundingMode,
    depthwise,
    backend_util.convertConv2DDataFormat(dataFormat),
  );
  return {
    batch: info.batchSize,
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    inChannels: info.inChannels,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    outChannels: info.outChannels,
    filterHeight: info.filterHeight,
    filterWidth: info.filterWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    dilationHeight: info.dilationHeight,
    dilationWidth: info.dilationWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
    channelsLast: info.dataFormat === 'channelsLast',
  };
}

/** The dy shape a geometry implies, in its data format. */
export function outputShape(g: ConvGeometry): number[] {
  return g.channelsLast
    ? [g.batch, g.outHeight, g.outWidth, g.outChannels]
    : [g.batch, g.outChannels, g.outHeight, g.outWidth];
}

export function checkRank4(op: string, name: string, shape: readonly number[]): [number, number, number, number] {
  if (shape.length !== 4) throw argumentError(op, name, 'rank 4', shape);
  return shape as [number, number, number, number];
}

/** The filter's in-channels must be the input's, and dy must have the convolution's output shape. */
export function checkGradientShapes(op: string, g: ConvGeometry, dy: TensorInfo, filterShape: readonly number[]): void {
  if (filterShape[2] !== g.inChannels) {
    throw argumentError(op, 'filter', `in-channels (dimension 2) = ${g.inChannels}, the input's channels`, filterShape);
  }
  const expected = outputShape(g);
  if (dy.shape.length !== 4 || dy.shape.some((d, i) => d !== expected[i])) {
    throw argumentError(op, 'dy', `shape [${expected.join(', ')}] (the convolution's output)`, dy.shape);
  }
}
