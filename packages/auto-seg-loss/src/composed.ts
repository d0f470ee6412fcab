/**
 * The auto-seg-loss ops composed from tf ops with gradients on every backend: the fallback where fused kernels
 * are absent, and the independent check of the kernels in the tests.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ROOT_FLOOR } from './bezier_impl';

/** The composed version, from tf ops with gradients on every backend (and the fused kernel's reference). */
export function bezierComposed(x: tf.Tensor, points: ReadonlyArray<readonly [number, number]>): tf.Tensor {
  return tf.tidy(() => {
    let y: tf.Tensor | null = null;
    for (let i = 0; i + 2 < points.length; i += 2) {
      const [xs, ys] = points[i];
      const [xc, yc] = points[i + 1];
      const [xe, ye] = points[i + 2];
      const width = xe - xs;
      if (width <= 0) continue; // a piece of zero width covers no x
      // On a piece, x' = (x - xs) / width solves x' = 2t(1-t)c + t^2 with c the control's relative x; the root
      // t = (c - sqrt(c^2 + (1-2c)x')) / (2c - 1) is rewritten as x' / (c + sqrt(...)), exact for c = 1/2 too
      // and free of cancellation near it.
      // Under the root, c^2 + (1-2c)x' is written as a sum of two non-negative terms (the second form for
      // c >= 1/2), so float32 keeps its relative accuracy where it approaches 0.
      const c = (xc - xs) / width;
      const u = tf.clipByValue(tf.div(tf.sub(x, xs), width), 0, 1);
      const radicand =
        c < 0.5 ? tf.add(tf.mul(u, 1 - 2 * c), c * c) : tf.add(tf.mul(tf.sub(1, u), 2 * c - 1), (1 - c) * (1 - c));
      const root = tf.sqrt(tf.maximum(radicand, ROOT_FLOOR));
      const t = tf.div(u, tf.add(root, c));
      // The piece's rise above its start, y(t) - ys = 2t(yc - ys) + t^2(ys - 2yc + ye): clipping u makes every
      // piece left of x contribute its whole rise and every piece right of x nothing, so g is their sum.
      const rise = tf.mul(t, tf.add(tf.mul(t, ys - 2 * yc + ye), 2 * (yc - ys)));
      y = y === null ? rise : tf.add(y, rise);
    }
    return y as tf.Tensor;
  });
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
