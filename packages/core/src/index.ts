export { initBackend, BACKEND_NAMES, BACKEND_ENV, WASM_PATHS_ENV } from './backend';
export { wasmThreads, THREADS_ENV, THREADED_WASM_VERSION, WasmThreadsError } from './wasm_threads';
export type { BackendName, InitBackendOptions } from './backend';
// The checks live in @deformjs/validate (no tensors, no dependencies) so tensor-free packages share them.
export {
  DeformjsArgumentError,
  argumentError,
  checkShapes,
  assertInteger,
  assertPositive,
  assertOneOf,
  assertDivides,
  assertDtype,
  pair,
  sizeOf,
} from '@deformjs/validate';
export type { Dim, ShapeCheck } from '@deformjs/validate';
export { Rng, rngOption, xavierUniform, torchDefaultUniform, kaimingNormalFanOut } from './random';
export { registerFusedKernel, hasFusedKernels, runFused, FUSED_BACKENDS } from './fused';
export type { FusedKernel, KernelArray, OutputSpec } from './fused';
export { runSplit, splitThreads } from './thread_split';
export type { SplitKernel } from './thread_split';
export { registerWebGLKernel } from './webgl_kernels';
export { registerWebGPUKernel, zerosWebGPUProgram } from './webgpu_kernels';
export type { RunWebGPUProgram, WebGPUKernel, WebGPUProgram } from './webgpu_kernels';
export type { RunWebGLProgram, WebGLKernel, WebGLProgram } from './webgl_kernels';
export { registerTrainingKernels } from './kernels/register';
export { inputGradientRoute } from './kernels/conv2d_backprop';
export { Module, fromTorchLayout, toTorchLayout } from './module';
export type { Parameter, TorchLayout, Layer } from './module';
export { Linear } from './linear';
export type { LinearOptions } from './linear';
export { Conv2d, conv2dNhwc, plainConv3x3 } from './conv2d';
export type { Conv2dOptions, Conv3x3Context, Conv3x3Factory } from './conv2d';
export { addBias } from './add_bias';
export { transpose2d } from './transpose2d';
export { convGeometry, convOutputSize, convTapGrid } from './conv_geometry';
export type { ConvAttributes, ConvGeometry } from './conv_geometry';
export { stopGradient } from './stop_gradient';
