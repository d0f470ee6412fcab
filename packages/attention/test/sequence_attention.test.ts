import * as tf from '@tensorflow/tfjs-core';
import { Rng, initBackend } from '@deformjs/core';
import { TEST_BACKENDS, assertAllClose, assertNoTensorLeak } from '@deformjs/core/testing';
import { describe, expect, it } from 'vitest';
import { SequenceGeneralizedAttention, WAVE_LENGTH } from '../src/index';

/**
 * A float64 loop port of the paper's four terms, written from the formula and independent of the module's
 * batching: energy(i, j) = [E1] Q_i.K_j + [E2] Q_i.R_{i-j} + [E3] u.K_j + [E4] v.R_{i-j}, over sqrt(d).
 */
type Params = Record<string, Float64Array>;

function linear(x: Float64Array, rows: number, w: Float64Array, inF: number, outF: number, b?: Float64Array) {
  const y = new Float64Array(rows * outF);
  for (let r = 0; r < rows; r++)
    for (let o = 0; o < outF; o++) {
      let s = b ? b[o] : 0;
      for (let i = 0; i < inF; i++) s += x[r * inF + i] * w[i * outF + o];
      y[r * outF + o] = s;
    }
  return y;
}

interface Setup {
  type: string;
  batch: number;
  lq: number;
  lk: number;
  embed: number;
  heads: number;
  posDim: number;
  causal: boolean;
}

function reference(s: Setup, p: Params, query: Float64Array, key: Float64Array): Float64Array {
  const { batch, lq, lk, embed: E, heads: H, posDim: P } = s;
  const d = E / H;
  const [e1, e2, e3, e4] = [...s.type].map((c) => c === '1');
  const Q = e1 || e2 ? linear(query, batch * lq, p['query_proj.weight'], E, E) : null;
  const K = e1 || e3 ? linear(key, batch * lk, p['key_proj.weight'], E, E) : null;
  const V = linear(key, batch * lk, p['value_proj.weight'], E, E);
  // R[i, j] = appr_geom_fc(sinusoid(i - j)): P / 2 frequencies 1 / WAVE_LENGTH^(2t / P), sines then cosines.
  const enc = new Float64Array(lq * lk * P);
  for (let i = 0; i < lq; i++)
    for (let j = 0; j < lk; j++)
      for (let t = 0; t < P / 2; t++) {
        const angle = (i - j) / WAVE_LENGTH ** ((2 * t) / P);
        enc[(i * lk + j) * P + t] = Math.sin(angle);
        enc[(i * lk + j) * P + P / 2 + t] = Math.cos(angle);
      }
  const R = e2 || e4 ? linear(enc, lq * lk, p['appr_geom_fc.weight'], P, E) : null;
  const attended = new Float64Array(batch * lq * E);
  for (let b = 0; b < batch; b++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < lq; i++) {
        const energy = new Float64Array(lk);
        for (let j = 0; j < lk; j++) {
          let e = 0;
          for (let c = h * d; c < h * d + d; c++) {
            const q = Q ? Q[(b * lq + i) * E + c] : 0;
            const k = K ? K[(b * lk + j) * E + c] : 0;
            const r = R ? R[(i * lk + j) * E + c] : 0;
            if (e1) e += q * k;
            if (e2) e += q * r;
            if (e3) e += p.appr_bias[c] * k;
            if (e4) e += p.geom_bias[c] * r;
          }
          energy[j] = s.causal && j > i ? -Infinity : e / Math.sqrt(d);
        }
        const max = Math.max(...energy);
        const w = energy.map((e) => Math.exp(e - max));
        const total = w.reduce((a, v) => a + v, 0);
        for (let j = 0; j < lk; j++)
          for (let c = h * d; c < h * d + d; c++)
            attended[(b * lq + i) * E + c] += (w[j] / total) * V[(b * lk + j) * E + c];
      }
  return linear(attended, batch * lq, p['out_proj.weight'], E, E, p['out_proj.bias']);
}

const CROSS: Omit<Setup, 'type'> = { batch: 2, lq: 3, lk: 4, embed: 8, heads: 2, posDim: 4, causal: false };
const CAUSAL: Omit<Setup, 'type'> = { batch: 2, lq: 4, lk: 4, embed: 8, heads: 2, posDim: 6, causal: true };
const ALL_TYPES = Array.from({ length: 15 }, (_, i) => (i + 1).toString(2).padStart(4, '0'));

function makeModule(s: Setup): SequenceGeneralizedAttention {
  return new SequenceGeneralizedAttention({
    embedDim: s.embed,
    numHeads: s.heads,
    attentionType: s.type,
    positionEmbeddingDim: s.posDim,
    rng: 3,
  });
}

function paramsOf(module: SequenceGeneralizedAttention): Params {
  return Object.fromEntries(
    module.namedParameters().map(([name, p]) => [name, Float64Array.from(p.variable.dataSync())]),
  );
}

function inputs(s: Setup) {
  const rng = new Rng(11);
  const query = Float64Array.from(rng.normalTensor([s.batch * s.lq * s.embed]).dataSync());
  // Self-attention (causal) uses the same sequence for queries and keys.
  const key = s.causal ? query : Float64Array.from(rng.normalTensor([s.batch * s.lk * s.embed]).dataSync());
  return { query, key };
}

describe.each(TEST_BACKENDS)('SequenceGeneralizedAttention on %s', (backend) => {
  it('starts the backend', async () => {
    expect(await initBackend(backend)).toBe(backend);
  });

  it.each(ALL_TYPES)('matches the float64 loop port, cross and causal: %s', (type) => {
    for (const base of [CROSS, CAUSAL]) {
      const s = { ...base, type };
      const module = makeModule(s);
      const { query, key } = inputs(s);
      const expected = reference(s, paramsOf(module), query, key);
      const q = tf.tensor3d(Float32Array.from(query), [s.batch, s.lq, s.embed]);
      const k = s.causal ? q : tf.tensor3d(Float32Array.from(key), [s.batch, s.lk, s.embed]);
      const out = module.forward(q, k, { causal: s.causal });
      assertAllClose(out.dataSync(), expected, { atol: 1e-5, rtol: 1e-4 });
      tf.dispose([q, k, out]);
      module.dispose();
    }
  });

  it.each(['1111', '1000', '0100', '0010', '0001', '0110'])(
    'gradients of the input and every parameter match float64 finite differences: %s',
    (type) => {
      for (const base of [CROSS, CAUSAL]) {
        const s = { ...base, type };
        const module = makeModule(s);
        const { query, key } = inputs(s);
        const params = paramsOf(module);
        const cotangent = Float64Array.from(new Rng(5).normalTensor([s.batch * s.lq * s.embed]).dataSync());
        const loss = () =>
          reference(s, params, query, s.causal ? query : key).reduce((a, v, i) => a + v * cotangent[i], 0);
        const numeric = (values: Float64Array) =>
          values.map((v, i) => {
            const h = 1e-6;
            values[i] = v + h;
            const plus = loss();
            values[i] = v - h;
            const minus = loss();
            values[i] = v;
            return (plus - minus) / (2 * h);
          });
        const q = tf.variable(tf.tensor3d(Float32Array.from(query), [s.batch, s.lq, s.embed]));
        const k = s.causal ? q : tf.variable(tf.tensor3d(Float32Array.from(key), [s.batch, s.lk, s.embed]));
        const named = module.namedParameters();
        const cot = tf.tensor3d(Float32Array.from(cotangent), [s.batch, s.lq, s.embed]);
        const { value, grads } = tf.variableGrads(
          () => tf.sum(tf.mul(module.forward(q, k, { causal: s.causal }), cot)) as tf.Scalar,
          [q, ...(s.causal ? [] : [k as tf.Variable]), ...named.map(([, p]) => p.variable)],
        );
        // Without E1 and E2 the output does not depend on the queries: tfjs leaves that gradient out.
        const gradQuery = grads[q.name] ? grads[q.name].dataSync() : new Float32Array(query.length);
        assertAllClose(gradQuery, numeric(query), { atol: 1e-4, rtol: 1e-3 });
        if (!s.causal) assertAllClose(grads[k.name].dataSync(), numeric(key), { atol: 1e-4, rtol: 1e-3 });
        for (const [name, p] of named) {
          const g = grads[p.variable.name];
          expect(g, name).toBeDefined();
          assertAllClose(g.dataSync(), numeric(params[name]), { atol: 1e-4, rtol: 1e-3 });
        }
        tf.dispose([value, cot, q, k, ...Object.values(grads)]);
        module.dispose();
      }
    },
  );

  it('causal: no weight on later keys, and later positions do not change earlier outputs', () => {
    const module = new SequenceGeneralizedAttention({ embedDim: 8, numHeads: 2, attentionType: '1111', rng: 1 });
    const x = tf.randomNormal([2, 5, 8], 0, 1, 'float32', 1);
    const weights = module.attentionWeights(x, x, { causal: true }).arraySync();
    for (const image of weights)
      for (const head of image)
        head.forEach((row, i) => {
          row.forEach((w, j) => (j > i ? expect(w).toBe(0) : expect(w).toBeGreaterThan(0)));
          expect(row.reduce((a, v) => a + v, 0)).toBeCloseTo(1, 5);
        });
    // Change the last two positions: outputs 0..2 stay, outputs 3..4 move.
    const changed = tf.concat([tf.slice(x, [0, 0, 0], [2, 3, 8]), tf.randomNormal([2, 2, 8], 0, 1, 'float32', 2)], 1);
    const a = module.forward(x, x, { causal: true });
    const b = module.forward(changed, changed, { causal: true });
    assertAllClose(tf.slice(b, [0, 0, 0], [2, 3, 8]).dataSync(), tf.slice(a, [0, 0, 0], [2, 3, 8]).dataSync(), {
      atol: 1e-6,
    });
    expect(
      tf.max(tf.abs(tf.sub(tf.slice(b, [0, 3, 0], [2, 2, 8]), tf.slice(a, [0, 3, 0], [2, 2, 8])))).dataSync()[0],
    ).toBeGreaterThan(1e-3);
    const unmasked = module.forward(changed, changed);
    expect(
      tf.max(tf.abs(tf.sub(tf.slice(unmasked, [0, 0, 0], [2, 3, 8]), tf.slice(a, [0, 0, 0], [2, 3, 8])))).dataSync()[0],
    ).toBeGreaterThan(1e-3);
    tf.dispose([x, changed, a, b, unmasked]);
    module.dispose();
  });

  it('leaves the tensor count flat in forward and in a gradient step', async () => {
    for (const type of ['1111', '0010', '0001']) {
      const module = new SequenceGeneralizedAttention({ embedDim: 8, numHeads: 2, attentionType: type, rng: 2 });
      const x = tf.randomNormal([2, 4, 8]);
      const memory = tf.randomNormal([2, 6, 8]);
      await assertNoTensorLeak(() => {
        tf.dispose([module.forward(x, memory), module.forward(x, x, { causal: true })]);
        const { value, grads } = tf.variableGrads(
          () => tf.sum(module.forward(x, x, { causal: true })) as tf.Scalar,
          module.trainableVariables(),
        );
        tf.dispose([value, ...Object.values(grads)]);
      });
      tf.dispose([x, memory]);
      module.dispose();
    }
  });

  it('names the argument, the expected and the actual value in its errors', () => {
    const make = (options: object) => () =>
      new SequenceGeneralizedAttention({ embedDim: 8, numHeads: 2, ...options } as { embedDim: number });
    expect(make({ attentionType: '0000' })).toThrow(
      /SequenceGeneralizedAttention.*attentionType.*four 0\/1 flags.*"0000"/,
    );
    expect(make({ numHeads: 3 })).toThrow(/numHeads.*dividing embedDim = 8.*3/);
    expect(make({ positionEmbeddingDim: 5 })).toThrow(/positionEmbeddingDim.*even.*5/);
    const module = new SequenceGeneralizedAttention({ embedDim: 8, numHeads: 2, rng: 0 });
    const x = tf.zeros([1, 3, 8]);
    const memory = tf.zeros([1, 4, 8]);
    const narrow = tf.zeros([1, 4, 6]);
    expect(() => module.forward(x, narrow)).toThrow(/SequenceGeneralizedAttention.*key.*8.*6/);
    expect(() => module.forward(x, memory, { causal: true })).toThrow(/causal.*as many queries as keys.*Lq 3, Lk 4/);
    expect(() => module.forward([1, 2] as unknown as tf.Tensor, memory)).toThrow(/query.*a tensor/);
    tf.dispose([x, memory, narrow]);
    module.dispose();
  });
});

describe('SequenceGeneralizedAttention.multiplyAdds', () => {
  it('counts the projections and terms each combination computes', () => {
    const count = (type: string) => {
      const module = new SequenceGeneralizedAttention({
        embedDim: 8,
        numHeads: 2,
        attentionType: type,
        positionEmbeddingDim: 4,
      });
      const n = module.multiplyAdds(2, 3, 5);
      module.dispose();
      return n;
    };
    const [b, lq, lk, e, p] = [2, 3, 5, 8, 4];
    const valueOut = b * (lq + lk) * e * e + b * lq * lk * e;
    expect(count('1000')).toBe(valueOut + b * lq * e * e + b * lk * e * e + b * lq * lk * e);
    expect(count('0010')).toBe(valueOut + b * lk * e * e + b * lk * e);
    expect(count('0001')).toBe(valueOut + lq * lk * p * e + lq * lk * e);
    expect(count('1111')).toBe(valueOut + b * lq * e * e + b * lk * e * e + lq * lk * p * e + 2 * b * lq * lk * e);
  });
});
