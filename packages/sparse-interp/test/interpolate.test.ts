import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng, hasFusedKernels, initBackend } from '@deformjs/core';
import { TEST_BACKENDS, assertAllClose, assertNoTensorLeak, numericalGradient } from '@deformjs/core/testing';
import {
  GumbelSigmoid,
  applyGridPrior,
  binarizeMask,
  sampleEvalMask,
  gaussianKernel,
  gumbelSigmoid,
  interpolate,
  interpolateSampled,
  sparsityLoss,
  activeIndices,
} from '../src/index';
import { gatherRows, interpolateRows } from '../src/kernels';

interface Entry {
  shape: number[];
  data: number[];
}
interface Case {
  features: Entry;
  mask: Entry;
  r: Entry;
  out: Entry;
  dFeatures: Entry;
  dMask: Entry;
  sigma: number;
  dSigma: number;
}
const fixture = JSON.parse(readFileSync(new URL('./fixtures/interpolation.json', import.meta.url), 'utf8')) as Record<
  'soft' | 'binary',
  Case
> & {
  kernel: { sigma: number; size: number; data: number[] };
};
const t = (e: Entry) => tf.tensor(e.data, e.shape);

for (const backend of TEST_BACKENDS) {
  describe(`interpolation and sampling on ${backend}`, () => {
    beforeAll(async () => {
      await initBackend(backend);
    });
    afterAll(() => tf.disposeVariables());

    it('builds the reference Gaussian kernel', () => {
      assertAllClose(gaussianKernel(tf.scalar(fixture.kernel.sigma), fixture.kernel.size), fixture.kernel.data, {
        atol: 1e-7,
        rtol: 1e-5,
      });
    });

    for (const name of ['soft', 'binary'] as const) {
      it(`${name} mask: matches PyTorch's reconstruct_feature (output and gradients in features, mask, sigma)`, () => {
        const c = fixture[name];
        const [f, m, r, sigma] = [t(c.features), t(c.mask), t(c.r), tf.scalar(c.sigma)];
        assertAllClose(interpolate(f, m, sigma), c.out.data, { atol: 1e-5, name: 'composed output' });
        assertAllClose(interpolateSampled(f, m, sigma), c.out.data, { atol: 1e-5, name: 'inference output' });
        const [df, dm, ds] = tf.grads((a: tf.Tensor, b: tf.Tensor, s: tf.Tensor) =>
          tf.sum(tf.mul(interpolate(a, b, s), r)),
        )([f, m, sigma]);
        assertAllClose(df, c.dFeatures.data, { atol: 1e-4, name: 'dFeatures' });
        assertAllClose(dm, c.dMask.data, { atol: 2e-4, rtol: 1e-3, name: 'dMask' });
        assertAllClose(ds, [c.dSigma], { atol: 1e-4, rtol: 1e-3, name: 'dSigma' });
      });
    }

    it('is exact at sampled positions and never reads unsampled features', () => {
      const c = fixture.binary;
      const [f, m] = [t(c.features), t(c.mask)];
      // Garbage where the mask is 0 must not change anything.
      const noisy = tf.add(f, tf.mul(tf.sub(1, m), 1e6));
      for (const out of [interpolate(noisy, m, tf.scalar(3)), interpolateSampled(noisy, m, tf.scalar(3))]) {
        const sampled = tf.mul(out, m);
        assertAllClose(sampled, tf.mul(f, m), { atol: 0, rtol: 0, name: 'sampled positions' });
        assertAllClose(out, interpolate(f, m, tf.scalar(3)), { atol: 1e-5, name: 'whole map' });
      }
    });

    it('inference kernel: compact rows (the sampled positions only) give the whole-map result; a wrong row count is refused', async () => {
      if (!hasFusedKernels()) return;
      const c = fixture.binary;
      const [f, m] = [t(c.features), t(c.mask)];
      const [N, H, W, C] = f.shape;
      const kernel = gaussianKernel(tf.scalar(c.sigma));
      const rows = gatherRows(tf.reshape(f, [N * H * W, C]), tf.tensor1d(activeIndices(m), 'int32'));
      assertAllClose(interpolateRows(rows, m, kernel), c.out.data, { atol: 1e-5, name: 'compact rows' });
      expect(() => interpolateRows(tf.slice(rows, 0, rows.shape[0] - 1), m, kernel)).toThrow(
        /interpolateRows: rows must hold one row per nonzero mask position/,
      );
      await assertNoTensorLeak(() => interpolateRows(rows, m, kernel).dispose());
    });

    it('gradient in sigma agrees with finite differences', () => {
      const c = fixture.soft;
      const [f, m, r] = [t(c.features), t(c.mask), t(c.r)];
      const loss = (s: number) => tf.tidy(() => tf.sum(tf.mul(interpolate(f, m, tf.scalar(s)), r)).dataSync()[0]);
      const [numeric] = numericalGradient((v) => loss(v[0]), [1.7], 1e-2);
      const analytic = tf
        .grad((s: tf.Tensor) => tf.sum(tf.mul(interpolate(f, m, s), r)))(tf.scalar(1.7))
        .dataSync()[0];
      expect(Math.abs(analytic - numeric)).toBeLessThan(2e-2 * Math.max(1, Math.abs(numeric)));
    });

    it('Gumbel-sigmoid: seeded, mean of evaluated samples near p, gradients finite and equal to finite differences', () => {
      const p = tf.fill([1, 100, 100, 1], 0.3);
      const a = gumbelSigmoid(p, 0.03, new Rng(5));
      const b = gumbelSigmoid(p, 0.03, new Rng(5));
      assertAllClose(a, b, { atol: 0, rtol: 0 });
      const rate = tf.mean(tf.cast(tf.greaterEqual(a, 0.5), 'float32')).dataSync()[0];
      expect(Math.abs(rate - 0.3)).toBeLessThan(0.02);
      const evaluated = binarizeMask(a).dataSync();
      expect(evaluated.every((v) => v === 0 || v >= 0.5)).toBe(true);

      const p0 = [0.2, 0.5, 0.9, 0.7];
      const relaxed = (x: tf.Tensor) =>
        tf.sum(tf.mul(gumbelSigmoid(x, 0.8, new Rng(9)), tf.tensor([1, -2, 0.5, 3], [1, 2, 2, 1])));
      const analytic = tf
        .grad(relaxed)(tf.tensor(p0, [1, 2, 2, 1]))
        .dataSync();
      expect(Array.from(analytic).every(Number.isFinite)).toBe(true);
      const numeric = numericalGradient(
        (v) => tf.tidy(() => relaxed(tf.tensor(v, [1, 2, 2, 1])).dataSync()[0]),
        p0,
        1e-3,
      );
      assertAllClose(analytic, numeric, { atol: 2e-2, rtol: 2e-2, name: 'dp' });
    });

    it('evaluation sampling in one pass equals sigmoid, Gumbel at T = 0.03, grid prior and m * (m >= 0.5) with the same noise', () => {
      const logits = new Rng(2).normalTensor([2, 13, 12, 1], 0, 2);
      const { soft, mask } = sampleEvalMask(logits, new Rng(8), 11);
      const p = tf.sigmoid(logits);
      const expected = binarizeMask(applyGridPrior(gumbelSigmoid(p, 0.03, new Rng(8)), 11));
      assertAllClose(soft, p, { atol: 1e-6, name: 'p' });
      const [a, e] = [mask.dataSync(), expected.dataSync()];
      let differ = 0;
      for (let i = 0; i < a.length; i++)
        if (Math.abs(a[i] - e[i]) > 1e-4 && Math.abs(e[i] - 0.5) > 1e-3 && Math.abs(a[i] - 0.5) > 1e-3) differ++;
      expect(differ).toBe(0);
      const onFraction = Array.from(a).filter((v) => v > 0).length / a.length;
      expect(onFraction).toBeGreaterThan(0.2);
      expect(onFraction).toBeLessThan(0.8);
      expect(() => sampleEvalMask(tf.zeros([1, 4, 4, 2]), new Rng(0), 11)).toThrow(/sampleEvalMask.*logits/);
    });

    it('GumbelSigmoid decays its temperature per training forward only', () => {
      const g = new GumbelSigmoid();
      const p = tf.fill([1, 2, 2, 1], 0.5);
      for (let i = 0; i < 3; i++) g.forward(p, new Rng(i)).dispose();
      // float32, as the reference's buffer: T <- fround(T * fround(0.99998)) per forward.
      const expected = [0, 1, 2].reduce((T) => Math.fround(T * Math.fround(0.99998)), 1);
      expect(g.curT.dataSync()[0]).toBe(expected);
      g.eval();
      g.forward(p, new Rng(4)).dispose();
      expect(g.curT.dataSync()[0]).toBe(expected);
      expect(g.namedParameters().map(([n]) => n)).toEqual(['cur_T']);
      g.dispose();
    });

    it('grid prior forces every 11th position on, with no gradient there', () => {
      const m = tf.fill([2, 13, 23, 1], 0.25);
      const out = applyGridPrior(m, 11).arraySync() as number[][][][];
      for (let h = 0; h < 13; h++)
        for (let w = 0; w < 23; w++) expect(out[1][h][w][0]).toBe(h % 11 === 0 && w % 11 === 0 ? 1 : 0.25);
      const g = tf
        .grad((x: tf.Tensor) => tf.sum(applyGridPrior(x, 11)))(m)
        .arraySync() as number[][][][];
      expect(g[0][11][22][0]).toBe(0);
      expect(g[0][1][2][0]).toBe(1);
    });

    it('sparsity loss sums the blocks and scales by weight / numBlocks', () => {
      expect(sparsityLoss([tf.scalar(0.5), tf.scalar(0.25)], 0.1, 4).dataSync()[0]).toBeCloseTo(0.075 / 4, 7);
      expect(() => sparsityLoss([], 0.1)).toThrow(/sparsityLoss.*blockLosses/);
    });

    it('clear errors and a flat tensor count', async () => {
      const f = tf.zeros([1, 4, 4, 3]);
      expect(() => interpolate(f, tf.zeros([1, 4, 5, 1]), tf.scalar(3))).toThrow(/interpolate.*mask/);
      expect(() => interpolateSampled(f, tf.zeros([1, 4, 4, 2]), tf.scalar(3))).toThrow(/interpolateSampled.*mask/);
      expect(() => interpolate(f, tf.zeros([1, 4, 4, 1]), tf.zeros([2]))).toThrow(/interpolate.*sigma/);
      expect(() => gaussianKernel(tf.scalar(3), 4)).toThrow(/gaussianKernel.*size/);
      const m = tf.ones([1, 4, 4, 1]);
      const s = tf.scalar(3);
      await assertNoTensorLeak(() => {
        interpolate(f, m, s).dispose();
        interpolateSampled(f, m, s).dispose();
        tf.dispose(tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(interpolate(a, b, c)))([f, m, s]));
      });
    });
  });
}
