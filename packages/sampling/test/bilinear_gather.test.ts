import * as tf from '@tensorflow/tfjs-core';
// After tfjs-core itself, so that its (CommonJS) copy creates the engine and tensors keep their chained methods.
import { describe, expect, it } from 'vitest';
import { initBackend, Rng } from '@deformjs/core';
import { assertAllClose, assertNoTensorLeak, numericalGradient, TEST_BACKENDS } from '@deformjs/core/testing';
import { bilinearGather, bilinearGatherComposed } from '../src/index';
import type { BilinearGatherOptions } from '../src/index';
import { referenceGather, startsOf, totalSize } from './reference';
import type { Case } from './reference';

// Awkward sizes: 3 groups of 5 channels, a 1x1 level, a single-row level, batch 2.
const AWKWARD: Case = {
  B: 2,
  G: 3,
  C: 5,
  Q: 3,
  P: 4,
  levels: [
    [3, 4],
    [1, 1],
    [2, 5],
  ],
};

interface Inputs {
  value: Float32Array;
  locations: Float32Array;
  weights: Float32Array;
}

/**
 * Pixel locations that hit the edge cases: far outside, exactly -1, H, W (not sampled), exactly H-1 and W-1
 * and 0 (the last row and column), half outside, and random points inside.
 */
function pixelInputs(k: Case, seed: number): Inputs {
  const rng = new Rng(seed);
  const L = k.levels.length;
  const S = totalSize(k.levels);
  const n = k.B * k.Q * k.G * L * k.P;
  const locations = new Float32Array(2 * n);
  for (let s = 0; s < n; s++) {
    const [H, W] = k.levels[Math.floor(s / k.P) % L];
    const special: Array<[number, number]> = [
      [-1, 0.5],
      [W, 0.3],
      [0.25, -1],
      [0.75, H],
      [W - 1, H - 1],
      [0, 0],
      [-0.5, H - 0.25],
      [W - 0.5, -0.75],
      [1e6, 2],
      [-3e5, -7],
      [W + 0.5, H + 0.5],
      [-0.999, -0.999],
    ];
    const pick = rng.int(special.length + 12);
    const [x, y] = pick < special.length ? special[pick] : [rng.uniform(-1.2, W + 0.2), rng.uniform(-1.2, H + 0.2)];
    locations[2 * s] = x;
    locations[2 * s + 1] = y;
  }
  return { value: rng.normalArray(k.B * S * k.G * k.C), locations, weights: rng.uniformArray(n, -1, 1) };
}

/** Normalised locations spread a little beyond [0, 1], away from the lattice so finite differences are smooth. */
function normalizedInputs(k: Case, seed: number, spread = 0.2): Inputs {
  const rng = new Rng(seed);
  const L = k.levels.length;
  const S = totalSize(k.levels);
  const n = k.B * k.Q * k.G * L * k.P;
  return {
    value: rng.normalArray(k.B * S * k.G * k.C),
    locations: rng.uniformArray(2 * n, -spread, 1 + spread),
    weights: rng.uniformArray(n, -1, 1),
  };
}

function tensors(k: Case, inputs: Inputs) {
  const L = k.levels.length;
  return {
    value: tf.tensor(inputs.value, [k.B, totalSize(k.levels), k.G, k.C]),
    locations: tf.tensor(inputs.locations, [k.B, k.Q, k.G, L, k.P, 2]),
    weights: tf.tensor(inputs.weights, [k.B, k.Q, k.G, L, k.P]),
  };
}

const MODES: BilinearGatherOptions[] = [
  { normalized: false, reduce: 'sum' },
  { normalized: false, reduce: 'none' },
  { normalized: true, reduce: 'sum' },
  { normalized: true, reduce: 'none' },
];

function inputsFor(k: Case, options: BilinearGatherOptions, seed: number): Inputs {
  return options.normalized ? normalizedInputs(k, seed) : pixelInputs(k, seed);
}

describe.each(TEST_BACKENDS)('bilinearGather on %s', (backend) => {
  it('matches the plain-loop reference in every mode, with and without weights', async () => {
    await initBackend(backend);
    for (const options of MODES) {
      const inputs = inputsFor(AWKWARD, options, 1);
      const t = tensors(AWKWARD, inputs);
      for (const withWeights of [true, false]) {
        const expected = referenceGather(
          inputs.value,
          inputs.locations,
          withWeights ? inputs.weights : null,
          AWKWARD,
          options.normalized,
          options.reduce,
        );
        const out = await assertNoTensorLeak(() =>
          bilinearGather(
            t.value,
            AWKWARD.levels,
            startsOf(AWKWARD.levels),
            t.locations,
            withWeights ? t.weights : null,
            options,
          ),
        );
        const L = AWKWARD.levels.length;
        expect(out.shape).toEqual(options.reduce === 'sum' ? [2, 3, 3, 5] : [2, 3, L * 4, 3, 5]);
        assertAllClose(out, expected, {
          atol: 1e-5,
          rtol: 1e-5,
          name: `${JSON.stringify(options)} weights=${withWeights}`,
        });
        out.dispose();
      }
      tf.dispose(t);
    }
  });

  it('reads spatial shapes and start indices given as int32 tensors', async () => {
    await initBackend(backend);
    const inputs = pixelInputs(AWKWARD, 2);
    const t = tensors(AWKWARD, inputs);
    const shapes = tf.tensor2d(AWKWARD.levels, [3, 2], 'int32');
    const starts = tf.tensor1d(startsOf(AWKWARD.levels), 'int32');
    const out = bilinearGather(t.value, shapes, starts, t.locations, t.weights, { normalized: false, reduce: 'sum' });
    assertAllClose(out, referenceGather(inputs.value, inputs.locations, inputs.weights, AWKWARD, false, 'sum'), {
      atol: 1e-5,
      rtol: 1e-5,
    });
    tf.dispose([out, shapes, starts, t]);
  });

  it("'none' summed over its samples equals 'sum'", async () => {
    await initBackend(backend);
    const inputs = normalizedInputs(AWKWARD, 3);
    const t = tensors(AWKWARD, inputs);
    const args = [t.value, AWKWARD.levels, startsOf(AWKWARD.levels), t.locations, t.weights] as const;
    const summed = bilinearGather(...args, { normalized: true, reduce: 'sum' });
    const each = bilinearGather(...args, { normalized: true, reduce: 'none' });
    const total = tf.sum(each, 2);
    assertAllClose(total, summed, { atol: 1e-5, rtol: 1e-5 });
    tf.dispose([summed, each, total, t]);
  });

  it('gives the gradients of autodiff through the composed path (computed on cpu)', async () => {
    for (const options of MODES) {
      for (const withWeights of [true, false]) {
        const inputs = inputsFor(AWKWARD, options, 4);
        await initBackend('cpu');
        const expected = gatherGrads(bilinearGatherComposed, AWKWARD, inputs, options, withWeights, 5);
        await initBackend(backend);
        const actual = await assertNoTensorLeak(() =>
          gatherGrads(bilinearGather, AWKWARD, inputs, options, withWeights, 5),
        );
        const label = `${JSON.stringify(options)} weights=${withWeights}`;
        assertAllClose(actual.value, expected.value, { atol: 1e-4, rtol: 1e-4, name: `d value ${label}` });
        assertAllClose(actual.locations, expected.locations, { atol: 2e-4, rtol: 1e-4, name: `d locations ${label}` });
        if (withWeights)
          assertAllClose(actual.weights!, expected.weights!, { atol: 1e-4, rtol: 1e-4, name: `d weights ${label}` });
      }
    }
  });

  it('gives gradients that match finite differences', async () => {
    await initBackend(backend);
    const k: Case = {
      B: 2,
      G: 2,
      C: 3,
      Q: 2,
      P: 2,
      levels: [
        [3, 4],
        [1, 1],
      ],
    };
    for (const options of [MODES[0], MODES[3]]) {
      const inputs = smoothInputs(k, options.normalized, 6);
      const L = k.levels.length;
      const outSize = options.reduce === 'sum' ? k.B * k.Q * k.G * k.C : k.B * k.Q * L * k.P * k.G * k.C;
      const probe = new Rng(7).normalArray(outSize);
      const loss = (v: Float32Array, loc: Float32Array, w: Float32Array) =>
        tf.tidy(() => {
          const t = tensors(k, { value: v, locations: loc, weights: w });
          const out = bilinearGather(t.value, k.levels, startsOf(k.levels), t.locations, t.weights, options);
          return tf.sum(tf.mul(out, tf.tensor(probe, out.shape))).dataSync()[0];
        });
      const analytic = gatherGrads(bilinearGather, k, inputs, options, true, 7);
      const eps = 1e-3;
      assertAllClose(
        analytic.value,
        numericalGradient((v) => loss(v, inputs.locations, inputs.weights), inputs.value, eps),
        { atol: 2e-3, rtol: 2e-3, name: 'd value' },
      );
      assertAllClose(
        analytic.locations,
        numericalGradient(
          (loc) => loss(inputs.value, loc, inputs.weights),
          inputs.locations,
          options.normalized ? 1e-4 : eps,
        ),
        { atol: 5e-3, rtol: 5e-3, name: 'd locations' },
      );
      assertAllClose(
        analytic.weights!,
        numericalGradient((w) => loss(inputs.value, inputs.locations, w), inputs.weights, eps),
        { atol: 2e-3, rtol: 2e-3, name: 'd weights' },
      );
    }
  });

  it('samples a 1x1 level at its centre only, fading to zero at distance 1', async () => {
    await initBackend(backend);
    const value = tf.tensor([[[[2]]]]);
    const at = (x: number, y: number) =>
      tf.tidy(
        () =>
          bilinearGather(value, [[1, 1]], [0], tf.tensor([x, y], [1, 1, 1, 1, 1, 2]), null, {
            normalized: false,
            reduce: 'sum',
          }).dataSync()[0],
      );
    expect(at(0, 0)).toBeCloseTo(2, 6);
    expect(at(0.25, 0)).toBeCloseTo(1.5, 6);
    expect(at(-0.5, -0.5)).toBeCloseTo(0.5, 6);
    expect(at(-1, 0)).toBe(0);
    expect(at(1, 0)).toBe(0);
    expect(at(0, 1e9)).toBe(0);
    value.dispose();
  });

  it('handles an empty batch and zero queries (shapes only, zero gradients)', async () => {
    await initBackend(backend);
    for (const [B, Q] of [
      [0, 3],
      [2, 0],
    ]) {
      for (const reduce of ['sum', 'none'] as const) {
        tf.tidy(() => {
          const value = tf.ones([B, 6, 2, 3]);
          const locations = tf.zeros([B, Q, 2, 1, 2, 2]);
          const weights = tf.zeros([B, Q, 2, 1, 2]);
          const run = (v: tf.Tensor, loc: tf.Tensor, w: tf.Tensor) =>
            bilinearGather(v, [[2, 3]], [0], loc, w, { normalized: false, reduce });
          expect(run(value, locations, weights).shape).toEqual(reduce === 'sum' ? [B, Q, 2, 3] : [B, Q, 2, 2, 3]);
          const grads = tf.grads((v: tf.Tensor, loc: tf.Tensor, w: tf.Tensor) => tf.sum(run(v, loc, w)))([
            value,
            locations,
            weights,
          ]);
          expect(grads.map((g) => g.shape)).toEqual([value.shape, locations.shape, weights.shape]);
          expect(Array.from(grads[0].dataSync()).every((x) => x === 0)).toBe(true);
        });
      }
    }
  });

  it('keeps the tensor count flat through tf.grads', async () => {
    await initBackend(backend);
    const t = tensors(AWKWARD, normalizedInputs(AWKWARD, 8));
    const f = (v: tf.Tensor, loc: tf.Tensor, w: tf.Tensor) =>
      tf.sum(
        tf.square(
          bilinearGather(v, AWKWARD.levels, startsOf(AWKWARD.levels), loc, w, { normalized: true, reduce: 'sum' }),
        ),
      );
    const grads = await assertNoTensorLeak(() => tf.grads(f)([t.value, t.locations, t.weights]));
    expect(grads.map((g) => g.shape)).toEqual([t.value.shape, t.locations.shape, t.weights.shape]);
    tf.dispose([grads, t]);
    // With only the value differentiated (locations fixed), as in a layer with constant sampling points.
    const t2 = tensors(AWKWARD, normalizedInputs(AWKWARD, 9));
    const g = await assertNoTensorLeak(() => tf.grad((v: tf.Tensor) => f(v, t2.locations, t2.weights))(t2.value));
    tf.dispose([g, t2]);
  });
});

/** Points at least 0.1 pixel from the lattice, so finite differences do not cross a cell boundary. */
function smoothInputs(k: Case, normalized: boolean, seed: number): Inputs {
  const rng = new Rng(seed);
  const L = k.levels.length;
  const n = k.B * k.Q * k.G * L * k.P;
  const locations = new Float32Array(2 * n);
  for (let s = 0; s < n; s++) {
    const [H, W] = k.levels[Math.floor(s / k.P) % L];
    const px = rng.int(W + 1) - 1 + rng.uniform(0.1, 0.9);
    const py = rng.int(H + 1) - 1 + rng.uniform(0.1, 0.9);
    locations[2 * s] = normalized ? (px + 0.5) / W : px;
    locations[2 * s + 1] = normalized ? (py + 0.5) / H : py;
  }
  return {
    value: rng.normalArray(k.B * totalSize(k.levels) * k.G * k.C),
    locations,
    weights: rng.uniformArray(n, -1, 1),
  };
}

type GatherFn = typeof bilinearGather;

/** Gradients of sum(out * R) for a fixed random R, as flat arrays (weights' only when there are weights). */
function gatherGrads(
  fn: GatherFn,
  k: Case,
  inputs: Inputs,
  options: BilinearGatherOptions,
  withWeights: boolean,
  seed: number,
) {
  const grads = tf.tidy(() => {
    const t = tensors(k, inputs);
    const L = k.levels.length;
    const outShape = options.reduce === 'sum' ? [k.B, k.Q, k.G, k.C] : [k.B, k.Q, L * k.P, k.G, k.C];
    const probe = tf.tensor(new Rng(seed).normalArray(outShape.reduce((a, b) => a * b, 1)), outShape);
    const loss = (v: tf.Tensor, loc: tf.Tensor, w: tf.Tensor | null) =>
      tf.sum(tf.mul(fn(v, k.levels, startsOf(k.levels), loc, w, options), probe));
    return withWeights
      ? tf.grads(loss)([t.value, t.locations, t.weights])
      : tf.grads((v: tf.Tensor, loc: tf.Tensor) => loss(v, loc, null))([t.value, t.locations]);
  });
  const [value, locations, weights] = grads.map((g) => g.dataSync() as Float32Array);
  tf.dispose(grads);
  return { value, locations, weights: withWeights ? weights : null };
}
