export { initBackend, BACKEND_NAMES, BACKEND_ENV, WASM_PATHS_ENV } from './backend';
export type { BackendName, InitBackendOptions } from './backend';
export { DeformjsArgumentError, argumentError } from './errors';
export { checkShapes, assertInteger, assertPositive, assertOneOf, assertDivides, assertDtype, pair } from './validate';
export type { Dim, ShapeCheck } from './validate';
export { Rng, sizeOf, xavierUniform, torchDefaultUniform, kaimingNormalFanOut } from './random';
export { registerFusedKernel, hasFusedKernels, runFused, FUSED_BACKENDS } from './fused';
export type { FusedKernel, KernelArray, OutputSpec } from './fused';
export { registerTrainingKernels } from './kernels/register';
