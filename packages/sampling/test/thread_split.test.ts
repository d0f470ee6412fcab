// The sampling core split across two wasm threads (core's runSplit): bit-identical to the single-thread loops.
// Its own file: the wasm thread count is fixed when the backend first starts in a process.
import * as tf from '@tensorflow/tfjs-core';
import { Rng, initBackend, splitThreads, wasmThreads } from '@deformjs/core';
import { assertNoTensorLeak } from '@deformjs/core/testing';
import { describe, expect, it } from 'vitest';
import { bilinearGather } from '../src/index';
import { bilinearGatherBackwardImpl, bilinearGatherForwardImpl } from '../src/bilinear_gather_impl';

const LEVELS: [number, number][] = [
  [24, 24],
  [12, 12],
  [6, 6],
];
const STARTS = [0, 576, 720];
const S = 756;
// B * Q * G * L * P * C = 2^21: above the split threshold.
const dims = { B: 2, S, G: 4, C: 16, Q: 1366, L: 3, P: 4 };

describe('the sampling core on two wasm threads', () => {
  it('starts the threaded backend and a worker pool', async () => {
    expect(await initBackend('wasm', { threads: 2 })).toBe('wasm');
    expect(wasmThreads()).toBe(2);
    expect(splitThreads([new Float32Array(new SharedArrayBuffer(16))])).toBe(2);
    // Arrays outside shared memory (the cpu backend's, the single-threaded build's) stay on the calling thread.
    expect(splitThreads([new Float32Array(4)])).toBe(1);
    // The first test of a file also loads every module: minutes on a loaded machine.
  }, 300_000);

  it.each([
    { normalized: true, reduce: 'sum' as const },
    { normalized: false, reduce: 'none' as const },
  ])('forward and backward are bit-identical to the single-thread loops: %o', async (flags) => {
    const rng = new Rng(7);
    const { B, G, C, Q, L, P } = dims;
    const value = rng.normalTensor([B, S, G, C]);
    const scale = flags.normalized ? 1.2 : 26;
    const locations = rng.uniformTensor([B, Q, G, L, P, 2], -0.1 * scale, scale);
    const weights = rng.uniformTensor([B, Q, G, L, P], 0, 0.2);
    const options = { normalized: flags.normalized, reduce: flags.reduce };
    await assertNoTensorLeak(() => {
      const out = bilinearGather(value, LEVELS, STARTS, locations, weights, options);
      const cotangent = tf.tidy(() => rng.normalTensor(out.shape));
      const grads = tf.grads((v: tf.Tensor, l: tf.Tensor, w: tf.Tensor) =>
        tf.sum(tf.mul(bilinearGather(v, LEVELS, STARTS, l, w, options), cotangent)),
      )([value, locations, weights]);

      // The same loops on plain arrays, whole range, this thread.
      const shapes = Int32Array.from(LEVELS.flat());
      const starts = Int32Array.from(STARTS);
      const [v, l, w, g] = [value, locations, weights, cotangent].map((t) => t.dataSync() as Float32Array);
      const expectedOut = new Float32Array(out.size);
      const gatherFlags = { ...options, weighted: true };
      bilinearGatherForwardImpl(v, shapes, starts, l, w, expectedOut, dims, gatherFlags);
      const expectedGrads = [new Float32Array(v.length), new Float32Array(l.length), new Float32Array(w.length)];
      bilinearGatherBackwardImpl(
        v,
        shapes,
        starts,
        l,
        w,
        g,
        ...(expectedGrads as [Float32Array, Float32Array, Float32Array]),
        dims,
        gatherFlags,
      );

      expect(Buffer.from(out.dataSync().buffer).equals(Buffer.from(expectedOut.buffer))).toBe(true);
      grads.forEach((grad, i) =>
        expect(Buffer.from(grad.dataSync().buffer).equals(Buffer.from(expectedGrads[i].buffer))).toBe(true),
      );
      tf.dispose([out, cotangent, ...grads]);
    });
    tf.dispose([value, locations, weights]);
  });
});
