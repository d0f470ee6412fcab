import * as tf from '@tensorflow/tfjs-core';
import type { DataType, TensorInfo } from '@tensorflow/tfjs-core';

/**
 * A shader program as tfjs-backend-webgl runs it (its `GPGPUProgram`, unpacked): one output value per texel,
 * computed by `userCode`'s `main` from `getOutputCoords()` and a getter per input (`get` + the capitalised
 * variable name, one int argument per dimension).
 */
export interface WebGLProgram {
  variableNames: string[];
  outputShape: number[];
  userCode: string;
}

/** Runs a program on the webgl backend with the given inputs (in `variableNames` order). */
export type RunWebGLProgram = (program: WebGLProgram, inputs: TensorInfo[], dtype?: DataType) => TensorInfo;

/**
 * A kernel for tfjs's webgl backend built from shader programs, the GPU counterpart of `registerFusedKernel`'s
 * array kernels: `run` gets the inputs in their registered order and returns the outputs. Core needs no import of
 * tfjs-backend-webgl for this: the programs run through the backend the kernel is called with.
 */
export interface WebGLKernel<A extends object> {
  kernelName: string;
  run(inputs: TensorInfo[], attrs: A, runProgram: RunWebGLProgram): TensorInfo[];
}

interface WebGLBackendLike {
  runWebGLProgram(program: WebGLProgram, inputs: TensorInfo[], dtype: DataType): TensorInfo;
}

const registered = new Set<string>();

/** Registers `kernel` on the webgl backend (once; later calls are free), for ops to call lazily. */
export function registerWebGLKernel<A extends object>(kernel: WebGLKernel<A>): void {
  if (registered.has(kernel.kernelName)) return;
  tf.registerKernel({
    kernelName: kernel.kernelName,
    backendName: 'webgl',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const gl = backend as unknown as WebGLBackendLike;
      const outs = kernel.run(Object.values(inputs) as TensorInfo[], attrs as unknown as A, (program, infos, dtype) =>
        gl.runWebGLProgram(program, infos, dtype ?? 'float32'),
      );
      return outs.length === 1 ? outs[0] : outs;
    },
  });
  registered.add(kernel.kernelName);
}
