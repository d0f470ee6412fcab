import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { initBackend } from '../src/index';
import { assertAllClose, assertNoTensorLeak } from '../src/testing';

type Values = (i: number) => number;

async function poolGradient(
  backend: 'cpu' | 'wasm',
  shape: [number, number, number, number],
  values: Values,
  filter: number,
  stride: number,
  pad: 'same' | 'valid',
): Promise<number[]> {
  await initBackend(backend);
  return tf.tidy(() => {
    const x = tf.tensor4d(
      Array.from({ length: shape.reduce((a, b) => a * b) }, (_, i) => values(i)),
      shape,
    );
    const dx = tf.grad((t: tf.Tensor) => {
      const y = tf.maxPool(t as tf.Tensor4D, filter, stride, pad);
      return tf.sum(tf.mul(y, tf.reshape(tf.range(1, 1 + y.size), y.shape)));
    })(x);
    return Array.from(dx.dataSync());
  });
}

describe('MaxPoolGrad on wasm', () => {
  const cases: Array<[string, Values, number, number, 'same' | 'valid']> = [
    ['tied maxima (ReLU zeros), 3x3 stride 1 same', (i) => (i % 3 === 0 ? 1 : 0), 3, 1, 'same'],
    [
      'tied maxima, 3x3 stride 2 same (the ResNet stem)',
      (i) => (Math.max(0, Math.sin(i * 0.37)) > 0.5 ? 1 : 0),
      3,
      2,
      'same',
    ],
    ['distinct values, 2x2 stride 2 valid', (i) => Math.sin(i * 1.7), 2, 2, 'valid'],
    ['all equal, 3x3 stride 1 valid', () => 0, 3, 1, 'valid'],
  ];
  for (const [name, values, filter, stride, pad] of cases) {
    it(`equals the cpu backend: ${name}`, async () => {
      const shape: [number, number, number, number] = [2, 7, 8, 3];
      const cpu = await poolGradient('cpu', shape, values, filter, stride, pad);
      const wasm = await poolGradient('wasm', shape, values, filter, stride, pad);
      assertAllClose(wasm, cpu, { atol: 0, rtol: 0, name });
      // Every output's gradient lands somewhere: the mass is conserved.
      const total = (a: number[]) => a.reduce((s, v) => s + v, 0);
      expect(total(wasm)).toBe(total(cpu));
    });
  }

  it('leaves the tensor count flat', async () => {
    await initBackend('wasm');
    const x = tf.zeros([1, 5, 5, 2]);
    await assertNoTensorLeak(() =>
      tf.tidy(() => void tf.grad((t: tf.Tensor) => tf.sum(tf.maxPool(t as tf.Tensor4D, 3, 2, 'same')))(x)),
    );
    x.dispose();
  });
});
