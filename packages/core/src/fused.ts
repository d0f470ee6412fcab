import * as tf from '@tensorflow/tfjs-core';
import type { NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import { arraysOf } from './backend_arrays';

/** The backends that run deformjs's fused typed-array kernels. Other backends use each op's composed path. */
export const FUSED_BACKENDS = ['cpu', 'wasm'] as const;

export type KernelArray = Float32Array | Int32Array;

export interface OutputSpec {
  shape: number[];
  dtype?: 'float32' | 'int32';
}

/**
 * A kernel written once as plain array code and run on the cpu and wasm backends. `compute` reads the inputs
 * and writes the outputs in place; outputs arrive zero-filled, so accumulating kernels need no clearing. On
 * wasm the arrays are views of the module heap: no copies in or out.
 */
export interface FusedKernel<A extends object> {
  kernelName: string;
  /** `name@version` of the package that defines the kernel (from its package.json). */
  owner: string;
  outputs(inputShapes: number[][], attrs: A): OutputSpec[];
  compute(inputs: KernelArray[], outputs: KernelArray[], inputShapes: number[][], attrs: A): void;
}

// Which package version registered each kernel name. tfjs's kernel registry is one per process, and so is this
// record (on globalThis: a second copy of core shares it), so two versions of a package cannot both register.
const owners: Map<string, string> = ((globalThis as Record<symbol, unknown>)[
  Symbol.for('@deformjs/core/fused-kernel-owners')
] ??= new Map<string, string>()) as Map<string, string>;

/**
 * Registers a fused kernel on the cpu and wasm backends (once; later calls are free), so an op can call it
 * lazily and the package stays free of import-time side effects. Another version of the same package (the
 * same kernel name, another owner) is refused: its kernel would silently run the first version's code.
 */
export function registerFusedKernel<A extends object>(kernel: FusedKernel<A>): void {
  const owner = owners.get(kernel.kernelName);
  if (owner === kernel.owner) return;
  if (owner !== undefined) {
    const name = kernel.owner.slice(0, kernel.owner.lastIndexOf('@'));
    throw new Error(
      `registerFusedKernel: kernel '${kernel.kernelName}' is already registered by ${owner}, and ${kernel.owner} ` +
        `registers a kernel of the same name: two versions of ${name} are loaded in one process, and tfjs's ` +
        `kernel registry holds one kernel per name. Install a single version (\`npm ls ${name}\` shows who needs ` +
        `which; update them, or pin one with npm overrides / pnpm.overrides).`,
    );
  }
  owners.set(kernel.kernelName, kernel.owner);
  for (const backendName of FUSED_BACKENDS) {
    tf.registerKernel({
      kernelName: kernel.kernelName,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const arrays = arraysOf(backendName, backend);
        const infos = Object.values(inputs) as TensorInfo[];
        const shapes = infos.map((t) => t.shape);
        const specs = kernel.outputs(shapes, attrs as unknown as A);
        // Allocate every output before taking views: on wasm an allocation may grow the heap and detach older views.
        const outs = specs.map((s) => arrays.alloc(s.shape, s.dtype ?? 'float32'));
        const outArrays = outs.map((o) => arrays.values(o));
        outArrays.forEach((a) => a.fill(0));
        kernel.compute(
          infos.map((t) => arrays.values(t)),
          outArrays,
          shapes,
          attrs as unknown as A,
        );
        return outs.length === 1 ? outs[0] : outs;
      },
    });
  }
}

/** True when the active backend runs fused kernels; ops use their composed fallback otherwise. */
export function hasFusedKernels(): boolean {
  return (FUSED_BACKENDS as readonly string[]).includes(tf.getBackend());
}

/** Runs a registered kernel with named inputs; the typed wrapper every op uses. */
export function runFused(kernelName: string, inputs: Record<string, tf.Tensor>, attrs: object): tf.Tensor[] {
  const out = tf
    .engine()
    .runKernel(kernelName, inputs as unknown as tf.NamedTensorMap, attrs as unknown as NamedAttrMap);
  return Array.isArray(out) ? (out as tf.Tensor[]) : [out as tf.Tensor];
}
