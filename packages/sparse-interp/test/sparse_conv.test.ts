import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng, initBackend } from '@deformjs/core';
import { TEST_BACKENDS, assertAllClose, assertNoTensorLeak } from '@deformjs/core/testing';
import { conv2dNhwc } from '@deformjs/nn';
import { activeIndices, sparseConv2d, sparseConv2dComposed } from '../src/index';

interface Case {
  name: string;
  kernel: number;
  strides: [number, number];
  pad: [number, number];
  dilations: [number, number];
  bias: boolean;
}

const CASES: Case[] = [
  { name: '3x3 stride 1 pad 1 + bias', kernel: 3, strides: [1, 1], pad: [1, 1], dilations: [1, 1], bias: true },
  { name: '3x3 stride 2 pad 1', kernel: 3, strides: [2, 2], pad: [1, 1], dilations: [1, 1], bias: false },
  { name: '3x3 stride (2, 1) pad (0, 1)', kernel: 3, strides: [2, 1], pad: [0, 1], dilations: [1, 1], bias: true },
  { name: '3x3 dilation 2 pad 2', kernel: 3, strides: [1, 1], pad: [2, 2], dilations: [2, 2], bias: false },
  { name: '1x1', kernel: 1, strides: [1, 1], pad: [0, 0], dilations: [1, 1], bias: true },
  { name: '1x1 stride 2', kernel: 1, strides: [2, 2], pad: [0, 0], dilations: [1, 1], bias: false },
];

const [N, H, W, C, O] = [2, 7, 6, 3, 4];

function dense(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor | null, c: Case): tf.Tensor4D {
  const y = conv2dNhwc(x as tf.Tensor4D, w as tf.Tensor4D, c.strides, c.pad, c.dilations);
  return (b ? tf.add(y, b) : y) as tf.Tensor4D;
}

/** Gradients of sum(f(x, w, b) * r) for a fixed random r. */
function gradients(
  f: (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.Tensor,
  x: tf.Tensor,
  w: tf.Tensor,
  b: tf.Tensor,
  r: tf.Tensor,
): tf.Tensor[] {
  return tf.grads((a: tf.Tensor, bw: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(f(a, bw, bb), r)))([x, w, b]);
}

for (const backend of TEST_BACKENDS) {
  describe(`sparseConv2d on ${backend}`, () => {
    beforeAll(async () => {
      await initBackend(backend);
    });
    afterAll(() => tf.disposeVariables());

    for (const c of CASES) {
      it(`${c.name}: all positions equal the dense conv (forward and gradients)`, () => {
        const rng = new Rng(1);
        const x = rng.normalTensor([N, H, W, C]);
        const w = rng.normalTensor([c.kernel, c.kernel, C, O]);
        const b = rng.normalTensor([O]);
        const reference = dense(x, w, c.bias ? b : null, c);
        const [, Ho, Wo] = reference.shape;
        const all = Int32Array.from({ length: N * Ho * Wo }, (_, i) => i);
        const opts = { strides: c.strides, pad: c.pad, dilations: c.dilations };
        const ours = sparseConv2d(x, w, all, { ...opts, bias: c.bias ? b : null });
        expect(ours.shape).toEqual(reference.shape);
        assertAllClose(ours, reference, { atol: 1e-4, name: 'output' });

        const r = rng.normalTensor(reference.shape);
        const expected = gradients((a, bw, bb) => dense(a, bw, bb, c), x, w, b, r);
        const actual = gradients((a, bw, bb) => sparseConv2d(a, bw, all, { ...opts, bias: bb }), x, w, b, r);
        ['dx', 'dw', 'dbias'].forEach((name, i) =>
          assertAllClose(actual[i], expected[i], { atol: 1e-3, rtol: 1e-4, name }),
        );
        tf.dispose([x, w, b, reference, ours, r, ...expected, ...actual]);
      });

      it(`${c.name}: some positions equal the dense conv times the mask (forward and gradients)`, () => {
        const rng = new Rng(2);
        const x = rng.normalTensor([N, H, W, C]);
        const w = rng.normalTensor([c.kernel, c.kernel, C, O]);
        const b = rng.normalTensor([O]);
        const [, Ho, Wo] = dense(x, w, null, c).shape;
        const maskValues = rng.uniformArray(N * Ho * Wo).map((u) => (u < 0.4 ? 1 : 0));
        const mask = tf.tensor4d(maskValues, [N, Ho, Wo, 1]);
        const indices = activeIndices(mask);
        expect(indices.length).toBe(maskValues.reduce((s, v) => s + v, 0));
        const opts = { strides: c.strides, pad: c.pad, dilations: c.dilations };
        const reference = (a: tf.Tensor, bw: tf.Tensor, bb: tf.Tensor) => tf.mul(dense(a, bw, bb, c), mask);
        const ours = (a: tf.Tensor, bw: tf.Tensor, bb: tf.Tensor) =>
          sparseConv2d(a, bw, tf.tensor1d(indices, 'int32'), { ...opts, bias: bb });
        assertAllClose(ours(x, w, b), reference(x, w, b), { atol: 1e-4, name: 'output' });
        const r = rng.normalTensor([N, Ho, Wo, O]);
        const expected = gradients(reference, x, w, b, r);
        const actual = gradients(ours, x, w, b, r);
        ['dx', 'dw', 'dbias'].forEach((name, i) =>
          assertAllClose(actual[i], expected[i], { atol: 1e-3, rtol: 1e-4, name }),
        );
      });
    }

    it('the composed path (other backends) equals the fused one, forward and gradients', () => {
      const rng = new Rng(4);
      const x = rng.normalTensor([2, 6, 5, 3]);
      const w = rng.normalTensor([3, 3, 3, 4]);
      const b = rng.normalTensor([4]);
      const indices = [0, 3, 4, 9, 17, 29, 30, 44, 59];
      const opts = { pad: 1, strides: 1 };
      const fused = (a: tf.Tensor, bw: tf.Tensor, bb: tf.Tensor) => sparseConv2d(a, bw, indices, { ...opts, bias: bb });
      const composed = (a: tf.Tensor, bw: tf.Tensor, bb: tf.Tensor) =>
        sparseConv2dComposed(a, bw, indices, { ...opts, bias: bb });
      assertAllClose(composed(x, w, b), fused(x, w, b), { atol: 1e-4, name: 'output' });
      const r = rng.normalTensor([2, 6, 5, 4]);
      const expected = gradients(fused, x, w, b, r);
      const actual = gradients(composed, x, w, b, r);
      ['dx', 'dw', 'dbias'].forEach((name, i) =>
        assertAllClose(actual[i], expected[i], { atol: 1e-3, rtol: 1e-4, name }),
      );
      expect(() => sparseConv2dComposed(x, w, [60], opts)).toThrow(/sparseConv2d.*indices/);
    });

    it('no active position gives zeros and zero gradients', () => {
      const x = tf.ones([1, 4, 4, 2]);
      const w = tf.ones([3, 3, 2, 5]);
      const y = sparseConv2d(x, w, [], { pad: 1 });
      expect(y.shape).toEqual([1, 4, 4, 5]);
      expect(tf.max(tf.abs(y)).dataSync()[0]).toBe(0);
      const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(sparseConv2d(a, b, [], { pad: 1 })))([x, w]);
      expect(tf.max(tf.abs(dx)).dataSync()[0]).toBe(0);
      expect(tf.max(tf.abs(dw)).dataSync()[0]).toBe(0);
      expect(dw.shape).toEqual([3, 3, 2, 5]);
    });

    it('keeps the tensor count flat (forward and backward)', async () => {
      const x = tf.randomNormal([1, 6, 6, 4]);
      const w = tf.randomNormal([3, 3, 4, 8]);
      const indices = [0, 5, 7, 20, 35];
      await assertNoTensorLeak(() => {
        sparseConv2d(x, w, indices, { pad: 1, strides: 1 }).dispose();
        tf.dispose(tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(sparseConv2d(a, b, indices, { pad: 1 })))([x, w]));
      });
      tf.dispose([x, w]);
    });

    it('names the argument and what was expected in its errors', () => {
      const x = tf.zeros([1, 4, 4, 2]);
      const w = tf.zeros([3, 3, 2, 5]);
      expect(() => sparseConv2d(tf.zeros([4, 4, 2]), w, [0])).toThrow(/sparseConv2d.*x/);
      expect(() => sparseConv2d(x, tf.zeros([3, 3, 3, 5]), [0])).toThrow(/sparseConv2d.*filter/);
      expect(() => sparseConv2d(x, w, [16], { pad: 1 })).toThrow(/sparseConv2d.*indices.*\[0, 16\)/);
      expect(() => sparseConv2d(x, w, [3, 2], { pad: 1 })).toThrow(/sparseConv2d.*indices.*increasing/);
      expect(() => sparseConv2d(x, w, [0.5], { pad: 1 })).toThrow(/sparseConv2d.*indices.*integers/);
      // 2^32 + 1 must not wrap to position 1 in the int32 copy.
      expect(() => sparseConv2d(x, w, [0, 2 ** 32 + 1], { pad: 1 })).toThrow(
        /sparseConv2d: argument 'indices' expected integers in \[0, 16\).*got "4294967297 at 1"/,
      );
      expect(() => sparseConv2d(x, w, tf.tensor1d([0], 'float32'))).toThrow(/sparseConv2d.*indices/);
      expect(() => sparseConv2d(x, w, [0], { bias: tf.zeros([4]) })).toThrow(/sparseConv2d.*bias/);
      expect(() => sparseConv2d(tf.zeros([1, 2, 2, 2]), w, [0])).toThrow(/sparseConv2d.*filter.*padded input/);
      expect(() => activeIndices(tf.zeros([1, 4, 4, 2]))).toThrow(/activeIndices.*mask/);
    });
  });
}
