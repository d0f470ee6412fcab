import * as tf from '@tensorflow/tfjs-core';

/** The backends every registered kernel is tested on. */
export const TEST_BACKENDS = ['cpu', 'wasm'] as const;

/**
 * Runs `fn` and throws if it changed `tf.memory().numTensors`: every kernel and training step must leave the
 * count flat. Returns what `fn` returned (dispose it yourself if it is a tensor you keep).
 */
export async function assertNoTensorLeak<T>(fn: () => T | Promise<T>, allowed = 0): Promise<T> {
  const before = tf.memory().numTensors;
  const result = await fn();
  const kept = countTensors(result);
  const after = tf.memory().numTensors;
  if (after - before - kept > allowed) {
    throw new Error(
      `tensor leak: numTensors went from ${before} to ${after} (${after - before - kept} leaked beyond the ${kept} returned)`,
    );
  }
  return result;
}

function countTensors(value: unknown): number {
  if (value instanceof tf.Tensor) return value.isDisposed ? 0 : 1;
  if (Array.isArray(value)) return value.reduce((n: number, v) => n + countTensors(v), 0);
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.values(value).reduce((n: number, v) => n + countTensors(v), 0);
  }
  return 0;
}

export interface CloseOptions {
  atol?: number;
  rtol?: number;
  /** Names the compared quantity in the error. */
  name?: string;
}

/**
 * Elementwise |actual - expected| <= atol + rtol * |expected|, NaN only where NaN is expected. Throws with the
 * worst element's index and values; returns the largest absolute error.
 */
export function assertAllClose(
  actual: ArrayLike<number> | tf.Tensor,
  expected: ArrayLike<number> | tf.Tensor,
  options: CloseOptions = {},
): number {
  const { atol = 1e-5, rtol = 1e-4, name = 'value' } = options;
  const a = toArray(actual);
  const e = toArray(expected);
  if (a.length !== e.length) throw new Error(`${name}: ${a.length} elements, expected ${e.length}`);
  let worst = -1;
  let worstExcess = 0;
  let maxError = 0;
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(e[i]) !== Number.isNaN(a[i])) throw new Error(`${name}[${i}]: ${a[i]}, expected ${e[i]}`);
    const error = Math.abs(a[i] - e[i]);
    if (!(error <= maxError)) maxError = Number.isNaN(error) ? maxError : error;
    const excess = error - (atol + rtol * Math.abs(e[i]));
    if (excess > worstExcess) {
      worstExcess = excess;
      worst = i;
    }
  }
  if (worst >= 0) {
    throw new Error(
      `${name}: not close at index ${worst}: ${a[worst]} vs expected ${e[worst]} (atol ${atol}, rtol ${rtol}, max abs error ${maxError})`,
    );
  }
  return maxError;
}

function toArray(x: ArrayLike<number> | tf.Tensor): ArrayLike<number> {
  return x instanceof tf.Tensor ? (x.dataSync() as ArrayLike<number>) : x;
}

/**
 * Central finite differences of a scalar function of a flat float array, evaluated in float64 on the JS side
 * (`f` may round to float32 internally; choose `eps` accordingly, around 1e-2 to 1e-3 for float32 kernels).
 */
export function numericalGradient(f: (x: Float32Array) => number, x: ArrayLike<number>, eps = 1e-2): Float64Array {
  const probe = Float32Array.from(x);
  const grad = new Float64Array(probe.length);
  for (let i = 0; i < probe.length; i++) {
    const v = probe[i];
    probe[i] = v + eps;
    const plus = f(probe);
    probe[i] = v - eps;
    const minus = f(probe);
    probe[i] = v;
    grad[i] = (plus - minus) / (2 * eps);
  }
  return grad;
}
