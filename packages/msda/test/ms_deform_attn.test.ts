import * as tf from '@tensorflow/tfjs-core';
// After tfjs-core itself, so that its (CommonJS) copy creates the engine and tensors keep their chained methods.
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@deformjs/core';
import { assertAllClose, assertNoTensorLeak, numericalGradient, TEST_BACKENDS } from '@deformjs/core/testing';
import { bilinearGatherComposed } from '@deformjs/sampling';
import { msDeformAttn } from '../src/index';
import { loadFixture, OP_FIXTURES } from './fixtures';
import type { OpFixture } from './fixtures';

function inputs(f: OpFixture) {
  return {
    value: tf.tensor(f.value, [f.N, f.S, f.M, f.D]),
    locations: tf.tensor(f.samplingLocations, [f.N, f.Lq, f.M, f.L, f.P, 2]),
    attention: tf.tensor(f.attentionWeights, [f.N, f.Lq, f.M, f.L, f.P]),
  };
}

type Attn = (v: tf.Tensor, loc: tf.Tensor, a: tf.Tensor) => tf.Tensor;

/** Output and the gradients of <output, gradOutput> for value, locations and attention weights. */
function forwardAndGrads(f: OpFixture, attn: Attn) {
  const results = tf.tidy(() => {
    const t = inputs(f);
    const dy = tf.tensor(f.gradOutput, [f.N, f.Lq, f.M * f.D]);
    const out = attn(t.value, t.locations, t.attention);
    const grads = tf.grads((v: tf.Tensor, loc: tf.Tensor, a: tf.Tensor) => attn(v, loc, a))(
      [t.value, t.locations, t.attention],
      dy,
    );
    return [out, ...grads];
  });
  const [output, gradValue, gradLocations, gradAttention] = results.map((r) => r.dataSync() as Float32Array);
  tf.dispose(results);
  return { output, gradValue, gradLocations, gradAttention };
}

function expectMatchesFixture(name: string, f: OpFixture, r: ReturnType<typeof forwardAndGrads>) {
  // float32 against float64: tolerances scale with the sizes involved (location gradients carry W and H).
  assertAllClose(r.output, f.output, { atol: 2e-6, rtol: 1e-5, name: `${name} output` });
  assertAllClose(r.gradValue, f.gradValue, { atol: 2e-6, rtol: 1e-5, name: `${name} grad value` });
  assertAllClose(r.gradLocations, f.gradSamplingLocations, {
    atol: 2e-5,
    rtol: 1e-4,
    name: `${name} grad sampling locations`,
  });
  assertAllClose(r.gradAttention, f.gradAttentionWeights, {
    atol: 1e-5,
    rtol: 1e-5,
    name: `${name} grad attention weights`,
  });
}

const fused: (f: OpFixture) => Attn = (f) => (v, loc, a) => msDeformAttn(v, f.spatialShapes, f.levelStartIndex, loc, a);

describe.each(TEST_BACKENDS)('msDeformAttn on %s', (backend) => {
  beforeAll(async () => {
    await initBackend(backend);
  });

  it.each(OP_FIXTURES)('matches the float64 grid_sample reference, forward and gradients: %s', async (name) => {
    await initBackend(backend);
    const f = loadFixture(name);
    const r = await assertNoTensorLeak(() => forwardAndGrads(f, fused(f)));
    expect(r.output.length).toBe(f.N * f.Lq * f.M * f.D);
    expectMatchesFixture(name, f, r);
  });

  it('gives finite-difference gradients on the tiny upstream case', async () => {
    await initBackend(backend);
    const f = loadFixture('tiny');
    const loss = (v: ArrayLike<number>, loc: ArrayLike<number>, a: ArrayLike<number>) =>
      tf.tidy(() => {
        const out = msDeformAttn(
          tf.tensor(v, [f.N, f.S, f.M, f.D]),
          f.spatialShapes,
          f.levelStartIndex,
          tf.tensor(loc, [f.N, f.Lq, f.M, f.L, f.P, 2]),
          tf.tensor(a, [f.N, f.Lq, f.M, f.L, f.P]),
        );
        return tf.sum(tf.mul(out, tf.tensor(f.gradOutput, out.shape))).dataSync()[0];
      });
    const r = forwardAndGrads(f, fused(f));
    // value is rand * 0.01, so the loss is small: steps and tolerances follow.
    assertAllClose(
      r.gradValue,
      numericalGradient((v) => loss(v, f.samplingLocations, f.attentionWeights), f.value, 1e-3),
      { atol: 1e-4, rtol: 1e-3, name: 'd value' },
    );
    assertAllClose(
      r.gradLocations,
      numericalGradient((loc) => loss(f.value, loc, f.attentionWeights), f.samplingLocations, 1e-3),
      { atol: 2e-5, rtol: 1e-2, name: 'd locations' },
    );
    assertAllClose(
      r.gradAttention,
      numericalGradient((a) => loss(f.value, f.samplingLocations, a), f.attentionWeights, 1e-2),
      { atol: 1e-5, rtol: 1e-3, name: 'd attention' },
    );
  });

  it('names the argument at fault', async () => {
    await initBackend(backend);
    const f = loadFixture('tiny');
    tf.tidy(() => {
      const t = inputs(f);
      expect(() =>
        msDeformAttn(
          tf.reshape(t.value, [f.N, f.S, f.M * f.D]),
          f.spatialShapes,
          f.levelStartIndex,
          t.locations,
          t.attention,
        ),
      ).toThrow(/msDeformAttn: argument 'value' expected rank 4, shape \[N, S, M, D\]/);
      expect(() =>
        msDeformAttn(t.value, f.spatialShapes, f.levelStartIndex, tf.zeros([1, 2, 2, 2, 2]), t.attention),
      ).toThrow(/argument 'samplingLocations' expected rank 6/);
      expect(() =>
        msDeformAttn(t.value, f.spatialShapes, f.levelStartIndex, t.locations, tf.zeros([1, 2, 2, 2, 3])),
      ).toThrow(/argument 'attentionWeights' expected .*P=2/);
      expect(() =>
        msDeformAttn(t.value, f.spatialShapes, f.levelStartIndex, tf.zeros([1, 2, 3, 2, 2, 2]), t.attention),
      ).toThrow(/argument 'samplingLocations' expected .*M=2/);
      expect(() =>
        msDeformAttn(
          t.value,
          [
            [6, 4],
            [3, 3],
          ],
          [0, 24],
          t.locations,
          t.attention,
        ),
      ).toThrow(/argument 'spatialShapes' expected levels whose H\*W sum to S = 30/);
      expect(() => msDeformAttn(t.value, f.spatialShapes, [0, 6], t.locations, t.attention)).toThrow(
        /argument 'levelStartIndex' expected \[0, 24\]/,
      );
      expect(() =>
        msDeformAttn(
          t.value,
          [
            [6, 4],
            [3, 2],
            [1, 1],
          ],
          [0, 24, 30],
          t.locations,
          t.attention,
        ),
      ).toThrow(/msDeformAttn: argument 'samplingLocations' expected .*L=3/);
    });
  });
});

describe('msDeformAttn fused against composed', () => {
  it('the composed fallback matches the fixtures, forward and autodiff gradients (cpu)', async () => {
    await initBackend('cpu');
    for (const name of ['tiny', 'far', 'level1x1']) {
      const f = loadFixture(name);
      const composed: Attn = (v, loc, a) =>
        tf.reshape(
          bilinearGatherComposed(v, f.spatialShapes, f.levelStartIndex, loc, a, { normalized: true, reduce: 'sum' }),
          [f.N, f.Lq, f.M * f.D],
        );
      expectMatchesFixture(`${name} composed`, f, forwardAndGrads(f, composed));
    }
  });

  it('the wasm kernels and the cpu composed path agree on a larger random case', async () => {
    const f = loadFixture('batch2');
    await initBackend('cpu');
    const composed = forwardAndGrads(f, (v, loc, a) =>
      tf.reshape(
        bilinearGatherComposed(v, f.spatialShapes, f.levelStartIndex, loc, a, { normalized: true, reduce: 'sum' }),
        [f.N, f.Lq, f.M * f.D],
      ),
    );
    await initBackend('wasm');
    const kernel = forwardAndGrads(f, fused(f));
    assertAllClose(kernel.output, composed.output, { atol: 1e-6, rtol: 1e-5 });
    assertAllClose(kernel.gradValue, composed.gradValue, { atol: 1e-6, rtol: 1e-5 });
    assertAllClose(kernel.gradLocations, composed.gradLocations, { atol: 1e-5, rtol: 1e-4 });
    assertAllClose(kernel.gradAttention, composed.gradAttention, { atol: 1e-6, rtol: 1e-5 });
  });
});
