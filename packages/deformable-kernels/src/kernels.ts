import * as tf from '@tensorflow/tfjs-core';
import { registerFusedKernel, runFused } from '@deformjs/core';
import { localDeformKernelBackwardImpl, localDeformKernelForwardImpl, type LocalDims } from './local_impl';
import { name, version } from '../package.json';

export const LOCAL_DEFORM_KERNEL = 'DeformjsLocalDeformKernel';
export const LOCAL_DEFORM_KERNEL_GRAD = 'DeformjsLocalDeformKernelGrad';

/** The conv attributes; every other size comes from the shapes of input, weight and deltas. */
export interface LocalDeformKernelAttrs {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
}

function dimsOf(shapes: number[][], attrs: LocalDeformKernelAttrs): LocalDims {
  const [N, H, W, C] = shapes[0];
  const [scopeH, scopeW] = shapes[1];
  const [, Ho, Wo, taps2] = shapes[2];
  const [kh, kw] = attrs.kernel;
  return {
    N,
    H,
    W,
    C,
    Ho,
    Wo,
    scopeH,
    scopeW,
    kh,
    kw,
    strideH: attrs.stride[0],
    strideW: attrs.stride[1],
    padH: attrs.padding[0],
    padW: attrs.padding[1],
    dilationH: attrs.dilation[0],
    dilationW: attrs.dilation[1],
    groups: taps2 / (2 * kh * kw),
  };
}

let registered = false;

/** Registers the local variant's forward and backward kernels on cpu and wasm and its gradient; idempotent. */
export function registerLocalDeformKernels(): void {
  if (registered) return;
  registerFusedKernel<LocalDeformKernelAttrs>({
    kernelName: LOCAL_DEFORM_KERNEL,
    owner: `${name}@${version}`,
    outputs: (shapes) => [{ shape: [shapes[0][0], shapes[2][1], shapes[2][2], shapes[0][3]] }],
    compute: ([input, weight, deltas], [out], shapes, attrs) =>
      localDeformKernelForwardImpl(
        input as Float32Array,
        weight as Float32Array,
        deltas as Float32Array,
        out as Float32Array,
        dimsOf(shapes, attrs),
      ),
  });
  registerFusedKernel<LocalDeformKernelAttrs>({
    kernelName: LOCAL_DEFORM_KERNEL_GRAD,
    owner: `${name}@${version}`,
    outputs: (shapes) => [{ shape: shapes[0] }, { shape: shapes[1] }, { shape: shapes[2] }],
    compute: ([input, weight, deltas, dy], [gradInput, gradWeight, gradDeltas], shapes, attrs) =>
      localDeformKernelBackwardImpl(
        input as Float32Array,
        weight as Float32Array,
        deltas as Float32Array,
        dy as Float32Array,
        gradInput as Float32Array,
        gradWeight as Float32Array,
        gradDeltas as Float32Array,
        dimsOf(shapes, attrs),
      ),
  });
  tf.registerGradient({
    kernelName: LOCAL_DEFORM_KERNEL,
    inputsToSave: ['input', 'weight', 'deltas'],
    gradFunc: (dy, [input, weight, deltas], attrs) => {
      // One backward pass gives all three gradients; the thunks hand them out.
      const [gradInput, gradWeight, gradDeltas] = runFused(
        LOCAL_DEFORM_KERNEL_GRAD,
        { input, weight, deltas, dy: dy as tf.Tensor },
        attrs as unknown as LocalDeformKernelAttrs,
      );
      return { input: () => gradInput, weight: () => gradWeight, deltas: () => gradDeltas };
    },
  });
  registered = true;
}
