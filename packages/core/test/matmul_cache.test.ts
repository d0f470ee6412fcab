import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/index';
import { assertAllClose, assertNoTensorLeak } from '../src/testing';

function reference(a: number[][], b: number[][]): number[] {
  return a.flatMap((row) => b[0].map((_, j) => row.reduce((s, v, k) => s + v * b[k][j], 0)));
}

describe('wasm matmul operator cache', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('gives the right product when one buffer is the second operand under two shapes', async () => {
    const w = tf.tensor(
      Array.from({ length: 24 }, (_, i) => (i % 7) - 3),
      [6, 4],
    );
    const a1 = tf.tensor(
      Array.from({ length: 18 }, (_, i) => i / 9 - 1),
      [3, 6],
    );
    const a2 = tf.tensor(
      Array.from({ length: 12 }, (_, i) => (i % 5) / 2),
      [3, 4],
    );
    await assertNoTensorLeak(() => {
      tf.tidy(() => {
        const first = tf.matMul(a1, w);
        assertAllClose(first, reference(a1.arraySync() as number[][], w.arraySync() as number[][]), { name: 'a1 @ w' });
        // The same buffer, reshaped: tfjs's wasm backend alone would reuse the operator packed for [6, 4].
        const w46 = tf.reshape(w, [4, 6]);
        const second = tf.matMul(a2, w46);
        assertAllClose(second, reference(a2.arraySync() as number[][], w46.arraySync() as number[][]), {
          name: 'a2 @ reshape(w)',
        });
        const fused = tf.fused.matMul({ a: a2, b: w46, bias: tf.ones([6]), activation: 'relu' });
        const expected = reference(a2.arraySync() as number[][], w46.arraySync() as number[][]).map((v) =>
          Math.max(v + 1, 0),
        );
        assertAllClose(fused, expected, { name: 'fused a2 @ reshape(w)' });
        // The first shape still works from its cached operator.
        assertAllClose(tf.matMul(a1, w), first, { name: 'a1 @ w again' });
      });
    });
    tf.dispose([w, a1, a2]);
  });

  it('registers the guard once', async () => {
    const before = tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc;
    await initBackend('wasm');
    expect(tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc).toBe(before);
  });
});
