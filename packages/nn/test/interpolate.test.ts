import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { initBackend } from '@deformjs/core';
import { TEST_BACKENDS, assertAllClose, assertNoTensorLeak, numericalGradient } from '@deformjs/core/testing';
import { resizeBilinear } from '../src/index';
import { fixture } from './helpers';

interface ResizeCase {
  inShape: [number, number, number, number];
  size: [number, number];
  alignCorners: boolean;
  x: number[];
  out: number[];
  g: number[];
  dx: number[];
}
const { cases } = fixture<{ cases: ResizeCase[] }>('resize.json');
const label = (c: ResizeCase) =>
  `${c.inShape.slice(1, 3).join('x')} -> ${c.size.join('x')}, alignCorners ${c.alignCorners}`;

for (const backend of TEST_BACKENDS) {
  describe(`resizeBilinear on ${backend}`, () => {
    it('equals F.interpolate(mode=bilinear) and its input gradient (float64 torch), non-square shapes included', async () => {
      await initBackend(backend);
      for (const c of cases) {
        const x = tf.tensor(c.x, c.inShape);
        const g = tf.tensor(c.g, [c.inShape[0], ...c.size, c.inShape[3]]);
        await assertNoTensorLeak(() => {
          const out = resizeBilinear(x, c.size, { alignCorners: c.alignCorners });
          expect(out.shape, label(c)).toEqual([c.inShape[0], ...c.size, c.inShape[3]]);
          assertAllClose(out, c.out, { name: `out ${label(c)}` });
          const dx = tf.grad((t: tf.Tensor) =>
            tf.sum(tf.mul(resizeBilinear(t, c.size, { alignCorners: c.alignCorners }), g)),
          )(x);
          assertAllClose(dx, c.dx, { name: `dx ${label(c)}` });
          tf.dispose([out, dx]);
        });
        tf.dispose([x, g]);
      }
    });

    it('its gradient equals finite differences (4x4 -> 7x7 and 3x5 -> 7x4, both corner modes)', async () => {
      await initBackend(backend);
      for (const [inShape, size] of [
        [
          [1, 4, 4, 2],
          [7, 7],
        ],
        [
          [2, 3, 5, 1],
          [7, 4],
        ],
      ] as [[number, number, number, number], [number, number]][]) {
        for (const alignCorners of [false, true]) {
          const values = Float32Array.from({ length: inShape.reduce((a, b) => a * b) }, (_, i) => Math.sin(i * 1.7));
          const weights = tf.tensor(
            Float32Array.from({ length: inShape[0] * size[0] * size[1] * inShape[3] }, (_, i) => Math.cos(i * 0.9)),
            [inShape[0], ...size, inShape[3]],
          );
          const loss = (t: tf.Tensor) => tf.sum(tf.mul(resizeBilinear(t, size, { alignCorners }), weights));
          const numeric = numericalGradient((v) => tf.tidy(() => loss(tf.tensor(v, inShape)).dataSync()[0]), values);
          const x = tf.tensor(values, inShape);
          const analytic = tf.grad(loss)(x);
          assertAllClose(analytic, numeric, { atol: 2e-3, rtol: 1e-3, name: `gradient ${inShape} -> ${size}` });
          tf.dispose([x, analytic, weights]);
        }
      }
    });
  });
}

describe('resizeBilinear arguments', () => {
  it('names the argument, the expected and the actual value', async () => {
    await initBackend('cpu');
    const x = tf.zeros([1, 2, 2, 1]);
    expect(() => resizeBilinear(tf.zeros([2, 2, 1]), [3, 3])).toThrow(/resizeBilinear.*x/);
    expect(() => resizeBilinear(x, [0, 3])).toThrow(/resizeBilinear.*size\[0\].*0/);
    expect(() => resizeBilinear(x, [3, 2.5])).toThrow(/resizeBilinear.*size\[1\].*2\.5/);
    expect(() => resizeBilinear(x, [3] as unknown as [number, number])).toThrow(/resizeBilinear.*size/);
    const same = resizeBilinear(x, [2, 2]);
    expect(same).not.toBe(x);
    tf.dispose([x, same]);
  });
});
