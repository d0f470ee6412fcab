import * as tf from '@tensorflow/tfjs-core';
import { registerFusedKernel, runFused } from '@deformjs/core';
import { ROOT_FLOOR, bezierForward } from './bezier_impl';
import { windowMaxBackward, windowMaxForward } from './window_max_impl';
import { name, version } from '../package.json';

export const BEZIER = 'DeformjsBezier';
export const WINDOW_MAX = 'DeformjsWindowMax';
export const WINDOW_MAX_GRAD = 'DeformjsWindowMaxGrad';

interface WindowAttrs {
  radius: number;
}

let registered = false;

/** Registers the package's forward and backward kernels on cpu and wasm and their gradients; idempotent. */
export function registerAutoSegLossKernels(): void {
  if (registered) return;
  // One pass computing g and g' (kept for the gradient, dy * g'), instead of a dozen tf ops per piece.
  registerFusedKernel<{ points: number[] }>({
    kernelName: BEZIER,
    owner: `${name}@${version}`,
    outputs: ([shape]) => [{ shape }, { shape }],
    compute: ([x], [y, slope], _, { points }) => bezierForward(x, y, slope, points, ROOT_FLOOR),
  });
  tf.registerGradient({
    kernelName: BEZIER,
    outputsToSave: [false, true],
    gradFunc: (dy, saved) => ({ x: () => tf.mul(Array.isArray(dy) ? dy[0] : dy, saved[0]) }),
  });
  registerFusedKernel<WindowAttrs>({
    kernelName: WINDOW_MAX,
    owner: `${name}@${version}`,
    outputs: ([shape]) => [{ shape }, { shape, dtype: 'int32' }],
    compute: ([x], [y, argmax], [shape], { radius }) => windowMaxForward(x, y, argmax, shape, radius),
  });
  registerFusedKernel<Record<string, never>>({
    kernelName: WINDOW_MAX_GRAD,
    owner: `${name}@${version}`,
    outputs: ([shape]) => [{ shape }],
    compute: ([dy, argmax], [dx]) => windowMaxBackward(dy, argmax, dx),
  });
  tf.registerGradient({
    kernelName: WINDOW_MAX,
    outputsToSave: [false, true],
    gradFunc: (dy, saved) => {
      const grad = Array.isArray(dy) ? dy[0] : dy;
      return { x: () => runFused(WINDOW_MAX_GRAD, { dy: grad, argmax: saved[0] }, {})[0] };
    },
  });
  registered = true;
}

/** g(x) through the fused kernel (its slope output is kept only for the gradient). */
export function bezierKernel(x: tf.Tensor, points: number[]): tf.Tensor {
  registerAutoSegLossKernels();
  return tf.tidy(() => {
    const [y, slope] = runFused(BEZIER, { x }, { points });
    slope.dispose();
    return y;
  });
}

/** The window maximum through the fused kernel (its argmax output is kept only for the gradient). */
export function windowMaxKernel(x: tf.Tensor, radius: number): tf.Tensor {
  registerAutoSegLossKernels();
  return tf.tidy(() => {
    const [y, argmax] = runFused(WINDOW_MAX, { x }, { radius });
    argmax.dispose();
    return y;
  });
}
