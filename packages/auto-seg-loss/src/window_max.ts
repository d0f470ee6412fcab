import * as tf from '@tensorflow/tfjs-core';
import { hasFusedKernels, registerFusedKernel, runFused } from '@deformjs/core';
import { windowMaxBackward, windowMaxForward } from './window_max_impl';
import { name, version } from '../package.json';

const FORWARD = 'DeformjsWindowMax';
const BACKWARD = 'DeformjsWindowMaxGrad';

interface WindowAttrs {
  radius: number;
}

let registered = false;

function register(): void {
  if (registered) return;
  registerFusedKernel<WindowAttrs>({
    kernelName: FORWARD,
    owner: `${name}@${version}`,
    outputs: ([shape]) => [{ shape }, { shape, dtype: 'int32' }],
    compute: ([x], [y, argmax], [shape], { radius }) => windowMaxForward(x, y, argmax, shape, radius),
  });
  registerFusedKernel<Record<string, never>>({
    kernelName: BACKWARD,
    owner: `${name}@${version}`,
    outputs: ([shape]) => [{ shape }],
    compute: ([dy, argmax], [dx]) => windowMaxBackward(dy, argmax, dx),
  });
  tf.registerGradient({
    kernelName: FORWARD,
    outputsToSave: [false, true],
    gradFunc: (dy, saved) => {
      const grad = Array.isArray(dy) ? dy[0] : dy;
      return { x: () => runFused(BACKWARD, { dy: grad, argmax: saved[0] }, {})[0] };
    },
  });
  registered = true;
}

/**
 * The maximum over the (2r+1) x (2r+1) window around each pixel of [B, H, W, K], out-of-image pixels left
 * out (max_pool2d with stride 1 and padding r). One fused kernel with its gradient on cpu and wasm;
 * elsewhere composed from tf ops. The fused path also sidesteps tfjs-backend-wasm 4.22's MaxPoolGrad, which
 * returns wrong gradients for 3x3 windows and is slow for larger ones.
 */
export function windowMax(x: tf.Tensor, radius: number): tf.Tensor {
  if (hasFusedKernels()) {
    register();
    return tf.tidy(() => {
      const [y, argmax] = runFused(FORWARD, { x }, { radius });
      argmax.dispose();
      return y;
    });
  }
  return windowMaxComposed(x, radius);
}

/** The composed fallback: tf.maxPool, or for r = 1 the maximum of nine shifted views. */
export function windowMaxComposed(x: tf.Tensor, radius: number): tf.Tensor {
  if (radius > 1) return tf.maxPool(x as tf.Tensor4D, 2 * radius + 1, 1, 'same');
  return tf.tidy(() => {
    const [, height, width] = x.shape;
    const padded = tf.pad(
      x,
      [
        [0, 0],
        [1, 1],
        [1, 1],
        [0, 0],
      ],
      -Infinity,
    );
    let out: tf.Tensor = x;
    for (let dy = 0; dy < 3; dy++) {
      for (let dx = 0; dx < 3; dx++) {
        if (dy === 1 && dx === 1) continue;
        out = tf.maximum(out, tf.slice(padded, [0, dy, dx, 0], [-1, height, width, -1]));
      }
    }
    return out;
  });
}
