import * as tf from '@tensorflow/tfjs-core';
import { argumentError, assertInteger, checkShapes } from '@deformjs/core';

export interface ResizeBilinearOptions {
  /** PyTorch's align_corners (default false: half-pixel centres, as F.interpolate's default). */
  alignCorners?: boolean;
}

/**
 * F.interpolate(x, size, mode='bilinear', align_corners) on NHWC maps [N, H, W, C] -> [N, size[0], size[1], C].
 * Separable: each axis is two row gathers blended by fixed weights, so autodiff gives the exact gradient on every
 * backend (tfjs's ResizeBilinearGrad ignores halfPixelCenters).
 */
export function resizeBilinear(x: tf.Tensor, size: [number, number], options: ResizeBilinearOptions = {}): tf.Tensor4D {
  const op = 'resizeBilinear';
  const { alignCorners = false } = options;
  if (!(x instanceof tf.Tensor)) throw argumentError(op, 'x', 'a [N, H, W, C] tensor (NHWC)', x);
  checkShapes(op, [{ name: 'x', shape: x.shape, expected: ['N', 'H', 'W', 'C'] }]);
  if (!Array.isArray(size) || size.length !== 2) throw argumentError(op, 'size', '[height, width]', size);
  assertInteger(op, 'size[0]', size[0], 1);
  assertInteger(op, 'size[1]', size[1], 1);
  if (typeof alignCorners !== 'boolean') throw argumentError(op, 'alignCorners', 'a boolean', alignCorners);
  return tf.tidy(() => {
    const rows = linearAlongAxis(x, 1, size[0], alignCorners);
    const out = linearAlongAxis(rows, 2, size[1], alignCorners);
    return (out === x ? tf.clone(x) : out) as tf.Tensor4D;
  });
}

/** Linear resampling of axis 1 (rows) or 2 (columns) to outSize; the input itself when the size is unchanged. */
function linearAlongAxis(x: tf.Tensor, axis: 1 | 2, outSize: number, alignCorners: boolean): tf.Tensor {
  const inSize = x.shape[axis]!;
  if (inSize === outSize) return x;
  const { low, high, lambda } = sourceTaps(inSize, outSize, alignCorners);
  const weightShape = axis === 1 ? [1, outSize, 1, 1] : [1, 1, outSize, 1];
  const atLow = tf.gather(x, tf.tensor1d(low, 'int32'), axis);
  const atHigh = tf.gather(x, tf.tensor1d(high, 'int32'), axis);
  const highWeight = tf.tensor(lambda, weightShape);
  const lowWeight = tf.tensor(
    Float32Array.from(lambda, (l) => 1 - l),
    weightShape,
  );
  return tf.add(tf.mul(atLow, lowWeight), tf.mul(atHigh, highWeight));
}

/**
 * PyTorch's area_pixel_compute_source_index for linear modes: output index o reads input
 * (o + 0.5) * in / out - 0.5 clamped at 0 (half-pixel centres) or o * (in - 1) / (out - 1) (align_corners),
 * blended between floor and the next index (the last one repeated at the edge) with weight lambda on the latter.
 */
function sourceTaps(
  inSize: number,
  outSize: number,
  alignCorners: boolean,
): { low: Int32Array; high: Int32Array; lambda: Float32Array } {
  const low = new Int32Array(outSize);
  const high = new Int32Array(outSize);
  const lambda = new Float32Array(outSize);
  const scale = alignCorners ? (outSize > 1 ? (inSize - 1) / (outSize - 1) : 0) : inSize / outSize;
  for (let o = 0; o < outSize; o++) {
    const source = alignCorners ? o * scale : Math.max((o + 0.5) * scale - 0.5, 0);
    const l = Math.min(Math.floor(source), inSize - 1);
    low[o] = l;
    high[o] = l < inSize - 1 ? l + 1 : l;
    lambda[o] = source - l;
  }
  return { low, high, lambda };
}
