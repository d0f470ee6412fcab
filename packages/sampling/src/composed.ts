import * as tf from '@tensorflow/tfjs-core';
import { stopGradient } from '@deformjs/core';
import { checkGatherArguments } from './validate';
import type { BilinearGatherOptions, CheckedGather, LevelStartIndexLike, SpatialShapesLike } from './validate';

/**
 * The bilinear gather composed from tf ops that have gradients on every backend (GatherV2 and arithmetic),
 * so autodiff gives its gradients. `bilinearGather` uses it on backends without fused kernels (tensorflow,
 * webgl, webgpu); on cpu it is the independent check of the fused kernels. Same arguments and results.
 */
export function bilinearGatherComposed(
  value: tf.Tensor,
  spatialShapes: SpatialShapesLike,
  levelStartIndex: LevelStartIndexLike,
  locations: tf.Tensor,
  weights: tf.Tensor | null,
  options: BilinearGatherOptions,
): tf.Tensor {
  const checked = checkGatherArguments(
    'bilinearGatherComposed',
    value,
    spatialShapes,
    levelStartIndex,
    locations,
    weights,
    options,
  );
  return composedGather(value, locations, weights, checked);
}

export function composedGather(
  value: tf.Tensor,
  locations: tf.Tensor,
  weights: tf.Tensor | null,
  { levels, dims, options }: CheckedGather,
): tf.Tensor {
  const { B, S, G, C, Q, L, P } = dims;
  return tf.tidy(() => {
    const perLevel = (values: ArrayLike<number>, dtype: 'float32' | 'int32' = 'float32') =>
      tf.tensor(Array.from(values), [1, 1, 1, L, 1], dtype);
    const heights = Array.from({ length: L }, (_, l) => levels.shapes[2 * l]);
    const widths = Array.from({ length: L }, (_, l) => levels.shapes[2 * l + 1]);
    const H = perLevel(heights);
    const W = perLevel(widths);
    const sampleShape = [B, Q, G, L, P];
    const [u, v] = tf.split(locations, 2, 5).map((t) => tf.reshape(t, sampleShape));
    const x = options.normalized ? tf.sub(tf.mul(u, W), 0.5) : u;
    const y = options.normalized ? tf.sub(tf.mul(v, H), 0.5) : v;

    // step(t) is 1 for t > 0, else 0, with a zero gradient.
    const inside = tf.mul(
      tf.mul(tf.step(tf.add(x, 1)), tf.step(tf.sub(W, x))),
      tf.mul(tf.step(tf.add(y, 1)), tf.step(tf.sub(H, y))),
    );
    const x0 = tf.floor(x);
    const y0 = tf.floor(y);
    const lx = tf.sub(x, x0);
    const ly = tf.sub(y, y0);
    const hx = tf.sub(1, lx);
    const hy = tf.sub(1, ly);
    const top = tf.step(tf.add(y0, 1));
    const bottom = tf.step(tf.sub(tf.sub(H, 1), y0));
    const left = tf.step(tf.add(x0, 1));
    const right = tf.step(tf.sub(tf.sub(W, 1), x0));
    const scale = weights ? tf.mul(inside, weights) : inside;
    const cornerWeights = tf.stack([
      tf.mul(tf.mul(hy, hx), tf.mul(top, left)),
      tf.mul(tf.mul(hy, lx), tf.mul(top, right)),
      tf.mul(tf.mul(ly, hx), tf.mul(bottom, left)),
      tf.mul(tf.mul(ly, lx), tf.mul(bottom, right)),
    ]);

    const clampTo = (t: tf.Tensor, size: tf.Tensor) => tf.cast(tf.minimum(tf.maximum(t, 0), tf.sub(size, 1)), 'int32');
    const xs = [clampTo(x0, W), clampTo(tf.add(x0, 1), W)];
    const ys = [clampTo(y0, H), clampTo(tf.add(y0, 1), H)];
    const batch = tf.reshape(tf.range(0, B * S, S, 'int32'), [B, 1, 1, 1, 1]);
    const group = tf.reshape(tf.range(0, G, 1, 'int32'), [1, 1, G, 1, 1]);
    const levelBase = tf.add(batch, perLevel(levels.starts, 'int32'));
    const Wi = perLevel(widths, 'int32');
    const at = (yc: tf.Tensor, xc: tf.Tensor) =>
      tf.add(tf.mul(tf.add(tf.add(levelBase, tf.mul(yc, Wi)), xc), tf.scalar(G, 'int32')), group);
    // The corners' flat indices, cut from the tape: integer indices derived from the differentiated locations
    // would make backprop fail (GatherV2 hands its indices back as their "gradient").
    const indices = stopGradient(tf.stack([at(ys[0], xs[0]), at(ys[0], xs[1]), at(ys[1], xs[0]), at(ys[1], xs[1])]));

    const corners = tf.reshape(tf.gather(tf.reshape(value, [B * S * G, C]), tf.reshape(indices, [-1])), [
      4,
      B,
      Q,
      G,
      L,
      P,
      C,
    ]);
    const weighted = tf.mul(corners, tf.expandDims(tf.mul(cornerWeights, scale), -1));
    const samples = tf.reshape(tf.sum(weighted, 0), [B, Q, G, L * P, C]);
    return options.reduce === 'sum' ? tf.sum(samples, 3) : tf.transpose(samples, [0, 1, 3, 2, 4]);
  });
}
