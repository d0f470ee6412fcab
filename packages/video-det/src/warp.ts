import * as tf from '@tensorflow/tfjs-core';
import { argumentError, checkShapes } from '@deformjs/core';
import { bilinearGather } from '@deformjs/sampling';

/**
 * Flow-guided warping (DFF's `W(f_k, M_{i->k})`): out[n, y, x] = bilinear(features[n], (x, y) + flow[n, y, x]),
 * pixel centres at integers, zero padding (a corner outside the map contributes 0, as mxnet's BilinearSampler in
 * DFF and FGFA). `flow` is the backward flow from the output frame to the frame of `features`, in pixels of
 * `features`, channel 0 horizontal (dx), channel 1 vertical (dy); sampling there reproduces the output frame.
 *
 * features [N, H, W, C] float32; flow [N, H, W, 2] float32. Returns [N, H, W, C]. Differentiable in both: the
 * location gradient of the gather is what trains the flow network end to end.
 *
 * A thin layer over `bilinearGather` (`normalized: false`, one level, one group, one point per position), so it
 * runs the fused cpu/wasm kernels forward and backward.
 */
export function warp(features: tf.Tensor, flow: tf.Tensor): tf.Tensor4D {
  const op = 'warp';
  for (const [name, t] of [
    ['features', features],
    ['flow', flow],
  ] as const) {
    if (!(t instanceof tf.Tensor)) throw argumentError(op, name, 'a float32 tensor', t);
    if (t.dtype !== 'float32') throw argumentError(op, name, 'dtype float32', t.dtype);
  }
  const { N, H, W, C } = checkShapes(op, [
    { name: 'features', shape: features.shape, expected: ['N', 'H', 'W', 'C'] },
    { name: 'flow', shape: flow.shape, expected: ['N', 'H', 'W', 2] },
  ]);
  return tf.tidy(() => {
    const locations = tf.add(flow, pixelGrid(H, W));
    const out = bilinearGather(
      tf.reshape(features, [N, H * W, 1, C]),
      [[H, W]],
      [0],
      tf.reshape(locations, [N, H * W, 1, 1, 1, 2]),
      null,
      { normalized: false, reduce: 'sum' },
    );
    return tf.reshape(out, [N, H, W, C]) as tf.Tensor4D;
  });
}

/** [H, W, 2]: each position's own (x, y), the identity warp. */
function pixelGrid(H: number, W: number): tf.Tensor3D {
  const grid = new Float32Array(H * W * 2);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      grid[2 * (y * W + x)] = x;
      grid[2 * (y * W + x) + 1] = y;
    }
  }
  return tf.tensor3d(grid, [H, W, 2]);
}
