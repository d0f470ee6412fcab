/**
 * Threads only where they pay. tfjs-backend-wasm hands every XNNPACK operator (matMul and conv2d, but also add,
 * multiply, square, relu, pad, softmax...) its pthreads pool, so on the threaded build each small op wakes the other
 * threads and waits for them. Profiled on Deformable DETR small's training step (128 px, batch 2, load 25:
 * `packages/deformable-detr/bench/profile_kernels.ts`), 2 threads made Square 4 -> 161 us per call, Multiply 9 ->
 * 49 us, Add 15 -> 53 us, and the step 252 -> 548 ms. The gate gives the pool only to the kernels whose work is
 * large enough to gain from it (dense kernels with enough multiply-adds, other kernels with enough elements); every
 * other kernel runs on the calling thread, by clearing the C++ backend's pool pointer (XNNPACK and pthreadpool
 * run a null pool on the calling thread) for the length of that kernel call. Results do not change: XNNPACK splits
 * work without changing the order of any sum, so the gated and ungated runs are bit-identical (tested).
 *
 * The pool pointer is a global of the C++ backend (`tfjs::backend::threadpool`); its address is read from the
 * exported function `get_threads_count`, whose body loads it, and checked: with the pointer cleared that function
 * must answer -1 and with it restored the thread count. Anything unexpected leaves the backend ungated.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';

/** Kernels whose work is multiply-adds (XNNPACK's GEMM and convolutions); the rest count elements. */
const DENSE_KERNELS = new Set([
  'BatchMatMul',
  '_FusedMatMul',
  'Conv2D',
  'FusedConv2D',
  'DepthwiseConv2dNative',
  'FusedDepthwiseConv2D',
  'Conv2DBackpropInput',
]);
/**
 * The least work that gets the pool: 2^22 multiply-adds (about 0.2 ms of one wasm thread) for dense kernels, 2^20
 * input elements for the others (memory-bound: only large ones gain).
 */
export const MIN_POOLED_MULTIPLY_ADDS = 2 ** 22;
export const MIN_POOLED_ELEMENTS = 2 ** 20;

const sizeOf = (t: TensorInfo | undefined) => (t ? t.shape.reduce((a, b) => a * b, 1) : 0);

/** The work of one kernel call: multiply-adds of dense kernels (an upper bound for strided convs), else elements. */
export function kernelWork(
  kernelName: string,
  inputs: NamedTensorInfoMap,
  attrs: { transposeA?: boolean },
): { dense: boolean; work: number } {
  if (!DENSE_KERNELS.has(kernelName)) {
    return { dense: false, work: Object.values(inputs).reduce((sum, t) => sum + sizeOf(t), 0) };
  }
  if (kernelName === 'BatchMatMul' || kernelName === '_FusedMatMul') {
    const a = inputs.a as TensorInfo;
    const b = inputs.b as TensorInfo;
    // [batch, M, K] x [batch, K, N]: batch * M * K * N = size(a) * size(b) / (batch * K).
    const rank = a.shape.length;
    const k = a.shape[attrs.transposeA ? rank - 2 : rank - 1];
    const batch = sizeOf(a) / (a.shape[rank - 1] * a.shape[rank - 2]);
    return { dense: true, work: (sizeOf(a) * sizeOf(b)) / Math.max(batch * k, 1) };
  }
  // Convolutions: every input pixel meets every filter tap of its channel (stride 1; less with strides).
  const x = (kernelName === 'Conv2DBackpropInput' ? inputs.dy : inputs.x) as TensorInfo;
  const filter = inputs.filter as TensorInfo;
  const inChannels = filter.shape[2];
  return { dense: true, work: (sizeOf(x) * sizeOf(filter)) / Math.max(inChannels, 1) };
}

/** Whether a kernel call gets the pool. */
export function usesPool(kernelName: string, inputs: NamedTensorInfoMap, attrs: object): boolean {
  const { dense, work } = kernelWork(kernelName, inputs, attrs);
  return work >= (dense ? MIN_POOLED_MULTIPLY_ADDS : MIN_POOLED_ELEMENTS);
}

interface WasmModule {
  HEAP32: Int32Array;
  _get_threads_count(): number;
}

/**
 * The heap address of the C++ backend's pool pointer, from the body of the export `get_threads_count` in the
 * module's bytes: `i32.const ADDRESS; i32.load` is how it starts. Null when the body does not start that way.
 */
export function poolPointerAddress(wasmBytes: Uint8Array): number | null {
  let pos = 8;
  const leb = () => {
    let result = 0;
    let shift = 0;
    let byte: number;
    do {
      byte = wasmBytes[pos++];
      result += (byte & 0x7f) * 2 ** shift;
      shift += 7;
    } while (byte & 0x80);
    return result;
  };
  const skipName = () => {
    const length = leb();
    pos += length;
  };
  const readName = () => {
    const length = leb();
    const text = new TextDecoder().decode(wasmBytes.subarray(pos, pos + length));
    pos += length;
    return text;
  };
  const skipLimits = () => {
    const flags = leb();
    leb();
    if (flags & 1) leb();
  };
  let importedFunctions = 0;
  let exportIndex = -1;
  let codeStart = -1;
  while (pos < wasmBytes.length) {
    const id = wasmBytes[pos++];
    const size = leb();
    const end = pos + size;
    if (id === 2) {
      for (let n = leb(); n > 0; n--) {
        skipName();
        skipName();
        const kind = wasmBytes[pos++];
        if (kind === 0) {
          leb();
          importedFunctions++;
        } else if (kind === 1) {
          pos++;
          skipLimits();
        } else if (kind === 2) skipLimits();
        else if (kind === 3) pos += 2;
        else return null;
      }
    } else if (id === 7) {
      for (let n = leb(); n > 0; n--) {
        const name = readName();
        const kind = wasmBytes[pos++];
        const index = leb();
        if (kind === 0 && name === 'get_threads_count') exportIndex = index;
      }
    } else if (id === 10) codeStart = pos;
    pos = end;
  }
  if (exportIndex < importedFunctions || codeStart < 0) return null;
  pos = codeStart;
  const count = leb();
  for (let i = 0; i < count; i++) {
    const size = leb();
    const end = pos + size;
    if (i === exportIndex - importedFunctions) {
      for (let groups = leb(); groups > 0; groups--) {
        leb();
        pos++;
      }
      if (wasmBytes[pos++] !== 0x41) return null; // i32.const
      const address = leb(); // a small positive address: unsigned and signed LEB agree below 2^(7k-1)
      if (wasmBytes[pos++] !== 0x28) return null; // i32.load
      leb();
      const offset = leb();
      return address + offset;
    }
    pos = end;
  }
  return null;
}

/**
 * Wraps every wasm kernel registered so far so that small calls run without the pool. Returns false (and
 * changes nothing) when the pool pointer cannot be found and checked.
 */
export function gatePoolBySize(module: WasmModule, wasmBytes: Uint8Array): boolean {
  const address = poolPointerAddress(wasmBytes);
  const threads = module._get_threads_count();
  if (address === null || address % 4 !== 0 || threads < 2) return false;
  const heap = new Int32Array(module.HEAP32.buffer, address, 1);
  const pool = heap[0];
  if (pool === 0) return false;
  heap[0] = 0;
  const cleared = module._get_threads_count();
  heap[0] = pool;
  if (cleared !== -1 || module._get_threads_count() !== threads) return false;
  for (const config of tf.getKernelsForBackend('wasm')) {
    const run = config.kernelFunc;
    const gated: KernelFunc = (args) => {
      if (usesPool(config.kernelName, args.inputs, args.attrs ?? {})) return run(args);
      heap[0] = 0;
      try {
        return run(args);
      } finally {
        heap[0] = pool;
      }
    };
    tf.unregisterKernel(config.kernelName, 'wasm');
    tf.registerKernel({ ...config, kernelFunc: gated } as KernelConfig);
  }
  return true;
}
