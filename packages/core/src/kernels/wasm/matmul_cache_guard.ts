import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { wasmArrays } from '../../backend_arrays';

/**
 * tfjs-backend-wasm caches its XNNPACK matmul operator under the id of the second operand's buffer (with the
 * bias and activation), not its shape. A reshape shares the buffer, so the same buffer used again as `b` under
 * another shape silently reuses the operator packed for the first shape: wrong numbers, no error. This guard
 * remembers the shape each buffer was first multiplied with and hands the kernel a copy when the shape differs.
 */
const GUARDED_KERNELS = ['BatchMatMul', '_FusedMatMul'] as const;
const guards = new WeakSet<KernelFunc>();

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
    const arrays = wasmArrays(args.backend);
    const copy = arrays.alloc([...b.shape]);
    arrays.view(copy).set(arrays.view(b));
    try {
      return stock.kernelFunc({ ...args, inputs: { ...args.inputs, b: copy } });
    } finally {
      arrays.dispose(copy);
    }
  };
  guards.add(kernelFunc);
  return { ...stock, kernelFunc };
}
