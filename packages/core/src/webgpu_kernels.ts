import * as tf from '@tensorflow/tfjs-core';
import type { DataType, TensorInfo } from '@tensorflow/tfjs-core';

/**
 * A WGSL compute program as core runs it on tfjs's webgpu backend: `userCode` defines `fn run(index : i32)`, called
 * once for each index below `threads` (default: one per output element). Inputs are bound as storage arrays named
 * after `variableNames` (flat, row-major: `value[i]`), with their shapes in `uniforms.<name>Shape` and getters
 * `get<Name>(d0, ...)`; the output is `result`, written with `setOutputAtIndex(i, v)`.
 *
 * With `atomic`, the output arrives zero-filled as `array<atomic<i32>>` holding f32 bit patterns, and `run` adds
 * into it with `atomicAddFloat(i, v)`: WGSL has atomics on 32-bit integers only, so a float add is a
 * compare-exchange loop on the bit pattern (tfjs's own scatter does the same).
 */
export interface WebGPUProgram {
  variableNames: string[];
  outputShape: number[];
  /**
   * Names the shader in tfjs's pipeline cache, which adds only the inputs' ranks and dtypes: everything that is
   * baked into `userCode` (flags, sizes) must be in the key.
   */
  shaderKey: string;
  userCode: string;
  threads?: number;
  atomic?: boolean;
}

/**
 * Runs a program on the webgpu backend, binding the inputs its `variableNames` name (tfjs compiles shaders with an
 * automatic layout, which has no binding for an input the shader never reads: bind exactly what it uses).
 */
export type RunWebGPUProgram = (
  program: WebGPUProgram,
  inputs: Record<string, TensorInfo>,
  dtype?: DataType,
) => TensorInfo;

/**
 * A kernel for tfjs's webgpu backend built from WGSL programs, the counterpart of `registerWebGLKernel`: `run` gets
 * the inputs by name and returns the outputs. Core needs no import of tfjs-backend-webgpu: the
 * programs run through the backend the kernel is called with.
 */
export interface WebGPUKernel<A extends object> {
  kernelName: string;
  run(inputs: Record<string, TensorInfo>, attrs: A, runProgram: RunWebGPUProgram): TensorInfo[];
}

/** The parts of tfjs-backend-webgpu's program interface (4.x, `WebGPUProgram`) that core fills in. */
interface TfjsWebGPUProgram {
  variableNames: string[];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  uniforms: string;
  atomic: boolean;
  getUserCode(): string;
}

interface WebGPUBackendLike {
  runWebGPUProgram(
    program: TfjsWebGPUProgram,
    inputs: TensorInfo[],
    dtype: DataType,
    uniforms?: { type: 'int32'; data: number[] }[],
    output?: TensorInfo,
  ): TensorInfo;
}

const WORKGROUP = 64;

const ATOMIC_ADD_FLOAT = `
  fn atomicAddFloat(index : i32, v : f32) {
    var old = atomicLoad(&result[index]);
    loop {
      let swapped = atomicCompareExchangeWeak(&result[index], old, bitcast<i32>(bitcast<f32>(old) + v));
      if (swapped.exchanged) { break; }
      old = swapped.old_value;
    }
  }`;

function toTfjsProgram(program: WebGPUProgram): { tfjs: TfjsWebGPUProgram; threads: number } {
  const threads = program.threads ?? tf.util.sizeFromShape(program.outputShape);
  // A flat dispatch: tfjs reshapes it when it exceeds the device's per-dimension limit, and main() gets the flat
  // thread index either way.
  return {
    threads,
    tfjs: {
      variableNames: program.variableNames,
      outputShape: program.outputShape,
      shaderKey: `deformjs_${program.shaderKey}`,
      dispatchLayout: { x: [0] },
      dispatch: [Math.ceil(threads / WORKGROUP), 1, 1],
      workgroupSize: [WORKGROUP, 1, 1],
      uniforms: 'threads : i32,',
      atomic: program.atomic ?? false,
      getUserCode: () => `
        ${program.atomic ? ATOMIC_ADD_FLOAT : ''}
        ${program.userCode}
        fn main(index : i32) {
          if (index < uniforms.threads) { run(index); }
        }`,
    },
  };
}

/** A program that fills its output with zeros (a gradient that is zero by construction, an atomic output's start). */
export function zerosWebGPUProgram(outputShape: number[]): WebGPUProgram {
  return {
    variableNames: [],
    outputShape,
    shaderKey: 'zeros',
    userCode: 'fn run(index : i32) { setOutputAtIndex(index, 0.0); }',
  };
}

function runOn(
  backend: WebGPUBackendLike,
  program: WebGPUProgram,
  inputs: Record<string, TensorInfo>,
  dtype: DataType,
): TensorInfo {
  const bound = program.variableNames.map((name) => {
    const input = inputs[name];
    if (!input) {
      throw new Error(
        `runWebGPUProgram: program '${program.shaderKey}' reads an input named '${name}', and the kernel has ` +
          `${Object.keys(inputs).join(', ') || 'none'}`,
      );
    }
    return input;
  });
  const zeros = program.atomic ? runOn(backend, zerosWebGPUProgram(program.outputShape), {}, dtype) : undefined;
  const { tfjs, threads } = toTfjsProgram(program);
  return backend.runWebGPUProgram(tfjs, bound, dtype, [{ type: 'int32', data: [threads] }], zeros);
}

const registered = new Set<string>();

/** Registers `kernel` on the webgpu backend (once; later calls are free), for ops to call lazily. */
export function registerWebGPUKernel<A extends object>(kernel: WebGPUKernel<A>): void {
  if (registered.has(kernel.kernelName)) return;
  tf.registerKernel({
    kernelName: kernel.kernelName,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const gpu = backend as unknown as WebGPUBackendLike;
      const outs = kernel.run(inputs as Record<string, TensorInfo>, attrs as unknown as A, (program, named, dtype) =>
        runOn(gpu, program, named, dtype ?? 'float32'),
      );
      return outs.length === 1 ? outs[0] : outs;
    },
  });
  registered.add(kernel.kernelName);
}
