// The sparse conv's row kernels split across two wasm threads (core's runSplit): bit-identical to one pass on this
// thread. Its own file: the wasm thread count is fixed when the backend first starts in a process.
import * as tf from '@tensorflow/tfjs-core';
import { Rng, convGeometry, initBackend, splitThreads, wasmThreads } from '@deformjs/core';
import { assertNoTensorLeak } from '@deformjs/core/testing';
import { describe, expect, it } from 'vitest';
import { col2imRows, gatherRows, im2colRows, scatterRows } from '../src/kernels';
import { im2colRowsImpl } from '../src/sparse_impl';
import type { ConvGeometry } from '@deformjs/core';

const sameBits = (t: tf.Tensor, expected: Float32Array) =>
  expect(Buffer.from((t.dataSync() as Float32Array).buffer).equals(Buffer.from(expected.buffer))).toBe(true);

/** Active output positions: each with probability `density`, increasing. */
function randomIndices(rng: Rng, count: number, density: number): Int32Array {
  return Int32Array.from(Array.from({ length: count }, (_, q) => q).filter(() => rng.next() < density));
}

/** The adjoint of im2col as one pass over the active rows in order: what any split of col2imRows must equal. */
function col2imOnePass(dcolumns: Float32Array, indices: Int32Array, g: ConvGeometry): Float32Array {
  const { batch, inHeight: H, inWidth: W, inChannels: C, outHeight: Ho, outWidth: Wo } = g;
  const dx = new Float32Array(batch * H * W * C);
  const rowLength = g.kernel[0] * g.kernel[1] * C;
  indices.forEach((q, a) => {
    const n = Math.floor(q / (Ho * Wo));
    const ho = Math.floor((q % (Ho * Wo)) / Wo);
    const wo = q % Wo;
    for (let i = 0; i < g.kernel[0]; i++) {
      for (let j = 0; j < g.kernel[1]; j++) {
        const h = ho * g.stride[0] - g.padding[0] + i * g.dilation[0];
        const w = wo * g.stride[1] - g.padding[1] + j * g.dilation[1];
        if (h < 0 || h >= H || w < 0 || w >= W) continue;
        for (let c = 0; c < C; c++)
          dx[((n * H + h) * W + w) * C + c] += dcolumns[a * rowLength + (i * g.kernel[1] + j) * C + c];
      }
    }
  });
  return dx;
}

describe('the sparse conv row kernels on two wasm threads', () => {
  it('starts the threaded backend and a worker pool', async () => {
    expect(await initBackend('wasm', { threads: 2 })).toBe('wasm');
    expect(wasmThreads()).toBe(2);
    expect(splitThreads([new Float32Array(new SharedArrayBuffer(16))])).toBe(2);
    // The first test of a file also loads every module: minutes on a loaded machine.
  }, 300_000);

  // Both large enough to split (over 2^20 column values); the second with stride, dilation and padding 2.
  it.each([
    { shape: [2, 32, 32, 128], stride: 1, padding: 1, dilation: 1, density: 0.6 },
    { shape: [2, 32, 32, 256], stride: 2, padding: 2, dilation: 2, density: 0.95 },
  ])(
    'im2col and its adjoint are bit-identical to one pass: %o',
    async ({ shape, stride, padding, dilation, density }) => {
      const rng = new Rng(5);
      const x = rng.normalTensor(shape);
      const g = convGeometry(
        'test',
        shape,
        { kernel: [3, 3], outChannels: 8, arg: 'x' },
        { stride: [stride, stride], padding: [padding, padding], dilation: [dilation, dilation] },
      );
      const flat = randomIndices(rng, g.batch * g.outHeight * g.outWidth, density);
      const indices = tf.tensor1d(flat, 'int32');
      const rowLength = 9 * g.inChannels;
      expect(flat.length * rowLength).toBeGreaterThan(2 ** 20);
      await assertNoTensorLeak(() => {
        const columns = im2colRows(x, indices, g);
        const expected = new Float32Array(flat.length * rowLength);
        im2colRowsImpl(x.dataSync() as Float32Array, flat, expected, g, [0, flat.length]);
        sameBits(columns, expected);

        const dcolumns = tf.tidy(() => rng.normalTensor(columns.shape));
        const dx = col2imRows(dcolumns, indices, g);
        sameBits(dx, col2imOnePass(dcolumns.dataSync() as Float32Array, flat, g));
        tf.dispose([columns, dcolumns, dx]);
      });
      tf.dispose([x, indices]);
    },
  );

  it('row gather and scatter are bit-identical to one pass', async () => {
    const rng = new Rng(6);
    const source = rng.normalTensor([4096, 384]);
    const flat = randomIndices(rng, 4096, 0.8);
    const indices = tf.tensor1d(flat, 'int32');
    await assertNoTensorLeak(() => {
      const values = source.dataSync() as Float32Array;
      const gathered = gatherRows(source, indices);
      const expected = new Float32Array(flat.length * 384);
      flat.forEach((q, a) => expected.set(values.subarray(q * 384, (q + 1) * 384), a * 384));
      sameBits(gathered, expected);

      const scattered = scatterRows(gathered, indices, 4096);
      const expectedMap = new Float32Array(4096 * 384);
      flat.forEach((q) => expectedMap.set(values.subarray(q * 384, (q + 1) * 384), q * 384));
      sameBits(scattered, expectedMap);
      tf.dispose([gathered, scattered]);
    });
    tf.dispose([source, indices]);
  });
});
