import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';

/**
 * tfjs-backend-wasm caches its XNNPACK matmul operator under the id of the second operand's buffer (with the
 * bias and activation), not its shape. A reshape shares the buffer, so the same buffer used again as `b` under
 * another shape silently reuses the operator packed for the first shape: wrong numbers, no error. This guard
 * remembers the shape each buffer was first multiplied with and hands the kernel a copy when the shape differs.
 */
const GUARDED_KERNELS = ['BatchMatMul', '_FusedMatMul'] as const;
const guards = new WeakSet<KernelFunc>();

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array;
  disposeData(dataId: object): boolean;
}

export function isGuardedMatMul(kernelName: string): boolean {
  return (GUARDED_KERNELS as readonly string[]).includes(kernelName);
}

export function isMatMulGuard(kernelFunc: KernelFunc): boolean {
  return guards.has(kernelFunc);
}

export function guardMatMulCache(stock: KernelConfig): KernelConfig {
  const firstShape = new WeakMap<object, string>();
  const kernelFunc: KernelFunc = (args) => {
    const b = args.inputs.b as TensorInfo;
    const key = `${b.shape.join('x')}${args.attrs?.transposeB ? 'T' : ''}`;
    const seen = firstShape.get(b.dataId);
    if (seen === undefined) firstShape.set(b.dataId, key);
    if (seen === undefined || seen === key) return stock.kernelFunc(args);
    const backend = args.backend as unknown as WasmBackendLike;
    const copy = backend.makeOutput([...b.shape], 'float32');
    backend.typedArrayFromHeap(copy).set(backend.typedArrayFromHeap(b));
    try {
      return stock.kernelFunc({ ...args, inputs: { ...args.inputs, b: copy } });
    } finally {
      backend.disposeData(copy.dataId);
    }
  };
  guards.add(kernelFunc);
  return { ...stock, kernelFunc };
}
