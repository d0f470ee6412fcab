import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig } from '@tensorflow/tfjs-core';
import { cpuConv2DBackpropFilter } from './cpu/Conv2DBackpropFilter';
import { wasmConv2DBackpropFilter } from './wasm/Conv2DBackpropFilter';
import { wasmConv2DBackpropInput } from './wasm/Conv2DBackpropInput';
import { wasmDepthwiseConv2dNativeBackpropFilter } from './wasm/DepthwiseConv2dNativeBackpropFilter';
import { wasmDepthwiseConv2dNativeBackpropInput } from './wasm/DepthwiseConv2dNativeBackpropInput';
import { wasmMaxPoolGrad } from './wasm/MaxPoolGrad';
import { wasmUnsortedSegmentSum } from './wasm/UnsortedSegmentSum';
import { guardMatMulCache, isGuardedMatMul, isMatMulGuard } from './wasm/matmul_cache_guard';
import { registerFusedKernel } from '../fused';
import { transposeOnThreads } from './conv2d_backprop';
import { name, version } from '../../package.json';

export const TRANSPOSE_2D = 'DeformjsTranspose2d';

let registered = false;

/**
 * Registers core's own fused kernels (the tiled 2-d transpose, which has no gradient: it runs inside gradient
 * functions): lazily from the op, once, idempotently, like every package's `kernels.ts`.
 */
export function registerCoreKernels(): void {
  if (registered) return;
  registerFusedKernel<object>({
    kernelName: TRANSPOSE_2D,
    owner: `${name}@${version}`,
    outputs: ([[M, N]]) => [{ shape: [N, M] }],
    compute: ([values], [out], [[M, N]]) => transposeOnThreads(values as Float32Array, M, N, out as Float32Array),
  });
  registered = true;
}

/** The kernels deformjs adds or replaces, by backend. */
export const TRAINING_KERNELS: readonly KernelConfig[] = [
  wasmConv2DBackpropFilter,
  wasmConv2DBackpropInput,
  wasmDepthwiseConv2dNativeBackpropFilter,
  wasmDepthwiseConv2dNativeBackpropInput,
  wasmUnsortedSegmentSum,
  wasmMaxPoolGrad,
  cpuConv2DBackpropFilter,
];

/**
 * Registers the training kernels the wasm backend lacks (Conv2DBackpropFilter, DepthwiseConv2dNativeBackprop
 * Filter/Input, UnsortedSegmentSum), a fast wasm Conv2DBackpropInput, a wasm MaxPoolGrad that is right with tied
 * maxima, and a fast cpu Conv2DBackpropFilter.
 * A backend's kernels are registered once that backend's package has registered its own (it has BatchMatMul),
 * replacing any stock kernel of the same name without tfjs's "already registered" warning. The wasm matmuls
 * are wrapped so a reshaped operand cannot reuse an XNNPACK operator packed for another shape. Idempotent;
 * `initBackend` calls it.
 */
export function registerTrainingKernels(): void {
  for (const config of TRAINING_KERNELS) {
    if (!tf.getKernel('BatchMatMul', config.backendName)) continue;
    const existing = tf.getKernel(config.kernelName, config.backendName);
    if (existing?.kernelFunc === config.kernelFunc) continue;
    if (existing) tf.unregisterKernel(config.kernelName, config.backendName);
    tf.registerKernel(config);
  }
  for (const kernelName of ['BatchMatMul', '_FusedMatMul']) {
    const stock = tf.getKernel(kernelName, 'wasm');
    if (!stock || !isGuardedMatMul(kernelName) || isMatMulGuard(stock.kernelFunc)) continue;
    tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel(guardMatMulCache(stock));
  }
}
