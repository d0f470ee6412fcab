import * as tf from '@tensorflow/tfjs-core';
// After tfjs-core itself, so that its (CommonJS) copy creates the engine and tensors keep their chained methods.
import { describe, expect, it } from 'vitest';
import { initBackend, Rng } from '@deformjs/core';
import { assertAllClose, assertNoTensorLeak, TEST_BACKENDS } from '@deformjs/core/testing';
import { msDeformAttn, MSDeformAttn } from '../src/index';
import { loadFixture } from './fixtures';

interface ModuleFixture {
  dModel: number;
  nLevels: number;
  nHeads: number;
  nPoints: number;
  N: number;
  Lq: number;
  S: number;
  spatialShapes: number[][];
  levelStartIndex: number[];
  stateDict: Record<string, { shape: number[]; data: number[] }>;
  query: number[];
  inputFlatten: number[];
  referencePoints2: number[];
  referencePoints4: number[];
  paddingMask: number[];
  output2: number[];
  output4: number[];
}

describe.each(TEST_BACKENDS)('MSDeformAttn on %s', (backend) => {
  it('loads a PyTorch state_dict and reproduces its outputs (points with padding, boxes)', async () => {
    await initBackend(backend);
    const f = loadFixture<ModuleFixture>('module');
    const module = new MSDeformAttn({ dModel: f.dModel, nLevels: f.nLevels, nHeads: f.nHeads, nPoints: f.nPoints });
    const dict = Object.fromEntries(Object.entries(f.stateDict).map(([k, v]) => [k, tf.tensor(v.data, v.shape)]));
    module.loadStateDict(dict, { torchLayout: true });
    tf.dispose(Object.values(dict));
    const { N, Lq, S, dModel: d, nLevels: L } = f;
    const out = await assertNoTensorLeak(() =>
      tf.tidy(() => {
        const query = tf.tensor(f.query, [N, Lq, d]);
        const input = tf.tensor(f.inputFlatten, [N, S, d]);
        const mask = tf.cast(tf.tensor(f.paddingMask, [N, S]), 'bool');
        const points = module.forward(
          query,
          tf.tensor(f.referencePoints2, [N, Lq, L, 2]),
          input,
          f.spatialShapes,
          f.levelStartIndex,
          mask,
        );
        const boxes = module.forward(
          query,
          tf.tensor(f.referencePoints4, [N, Lq, L, 4]),
          input,
          f.spatialShapes,
          f.levelStartIndex,
        );
        return [points, boxes];
      }),
    );
    expect(out[0].shape).toEqual([N, Lq, d]);
    assertAllClose(out[0], f.output2, { atol: 1e-5, rtol: 1e-4, name: 'reference points' });
    assertAllClose(out[1], f.output4, { atol: 1e-5, rtol: 1e-4, name: 'reference boxes' });
    tf.dispose(out);
    module.dispose();
  });

  it('initialises as the official module: directional offsets, uniform attention, xavier projections', async () => {
    await initBackend(backend);
    const module = new MSDeformAttn({ rng: new Rng(5) });
    const state = module.stateDict({ torchLayout: true });
    expect(Object.keys(state)).toEqual([
      'sampling_offsets.weight',
      'sampling_offsets.bias',
      'attention_weights.weight',
      'attention_weights.bias',
      'value_proj.weight',
      'value_proj.bias',
      'output_proj.weight',
      'output_proj.bias',
    ]);
    expect(state['sampling_offsets.weight'].shape).toEqual([256, 256]);
    expect(state['attention_weights.weight'].shape).toEqual([128, 256]);
    const bias = loadFixture<{ bias: number[] }>('init_bias').bias;
    assertAllClose(state['sampling_offsets.bias'], bias, { atol: 1e-6, rtol: 1e-6, name: 'sampling_offsets.bias' });
    for (const zero of [
      'sampling_offsets.weight',
      'attention_weights.weight',
      'attention_weights.bias',
      'value_proj.bias',
      'output_proj.bias',
    ]) {
      expect(tf.max(tf.abs(state[zero])).dataSync()[0]).toBe(0);
    }
    const bound = Math.sqrt(6 / 512);
    for (const w of ['value_proj.weight', 'output_proj.weight']) {
      const values = Array.from(state[w].dataSync() as Float32Array);
      expect(Math.max(...values.map(Math.abs))).toBeLessThanOrEqual(bound);
      const variance = values.reduce((s, v) => s + v * v, 0) / values.length;
      expect(variance).toBeCloseTo((bound * bound) / 3, 4);
    }
    // Seeded: the same Rng state gives the same weights.
    const again = new MSDeformAttn({ rng: new Rng(5) });
    const transposed = tf.transpose(state['value_proj.weight']);
    assertAllClose(again.valueProj.weight, transposed, { atol: 0, rtol: 0 });
    transposed.dispose();
    tf.dispose(Object.values(state));
    module.dispose();
    again.dispose();
  });

  it('at init attends uniformly to the directional ring around each reference point', async () => {
    await initBackend(backend);
    const [d, L, M, P] = [8, 2, 2, 2];
    const shapes = [
      [3, 4],
      [2, 2],
    ];
    const starts = [0, 12];
    const module = new MSDeformAttn({ dModel: d, nLevels: L, nHeads: M, nPoints: P, rng: new Rng(1) });
    const rng = new Rng(2);
    tf.tidy(() => {
      const query = rng.normalTensor([1, 3, d]);
      const input = rng.normalTensor([1, 16, d]);
      const ref = rng.uniformTensor([1, 3, L, 2], 0.2, 0.8);
      const out = module.forward(query, ref, input, shapes, starts);
      // By hand: head 0 looks along +x (1, 0), head 1 along -x (-1, 0); point i at (i + 1) pixels of each level.
      const offsets = [
        [1, 0],
        [-1, 0],
      ];
      const loc = tf.tensor(
        [0, 1, 2].flatMap((q) =>
          offsets.flatMap(([ox, oy]) =>
            shapes.flatMap(([h, w], l) =>
              [1, 2].flatMap((i) => [
                ref.dataSync()[(q * L + l) * 2] + (ox * i) / w,
                ref.dataSync()[(q * L + l) * 2 + 1] + (oy * i) / h,
              ]),
            ),
          ),
        ),
        [1, 3, M, L, P, 2],
      );
      const value = tf.reshape(module.valueProj.forward(input), [1, 16, M, d / M]);
      const expected = module.outputProj.forward(
        msDeformAttn(value, shapes, starts, loc, tf.fill([1, 3, M, L, P], 1 / (L * P))),
      );
      assertAllClose(out, expected, { atol: 1e-5, rtol: 1e-5 });
    });
    module.dispose();
  });

  it('ignores padded positions of the input and nothing else', async () => {
    await initBackend(backend);
    const [d, L] = [8, 2];
    const shapes = [
      [3, 4],
      [2, 2],
    ];
    const starts = [0, 12];
    const module = new MSDeformAttn({ dModel: d, nLevels: L, nHeads: 2, nPoints: 3, rng: new Rng(3) });
    const rng = new Rng(4);
    tf.tidy(() => {
      const query = rng.normalTensor([2, 5, d]);
      const ref = rng.uniformTensor([2, 5, L, 2]);
      const input = rng.normalTensor([2, 16, d]);
      const maskValues = Array.from({ length: 32 }, (_, i) => i >= 16 && i % 16 >= 8);
      const mask = tf.tensor(maskValues, [2, 16], 'bool');
      const changedPadding = tf.add(input, tf.mul(tf.cast(tf.expandDims(mask, -1), 'float32'), 100));
      const changedVisible = tf.add(input, tf.mul(tf.cast(tf.expandDims(tf.logicalNot(mask), -1), 'float32'), 1));
      const base = module.forward(query, ref, input, shapes, starts, mask);
      assertAllClose(module.forward(query, ref, changedPadding, shapes, starts, mask), base, {
        atol: 1e-5,
        rtol: 1e-5,
      });
      const moved = tf
        .max(tf.abs(tf.sub(module.forward(query, ref, changedVisible, shapes, starts, mask), base)))
        .dataSync()[0];
      expect(moved).toBeGreaterThan(1e-2);
      // Without the mask the padded positions count.
      const unmasked = tf
        .max(tf.abs(tf.sub(module.forward(query, ref, changedPadding, shapes, starts), base)))
        .dataSync()[0];
      expect(unmasked).toBeGreaterThan(1e-2);
    });
    module.dispose();
  });

  it('rejects inconsistent inputs with the argument named', async () => {
    await initBackend(backend);
    const module = new MSDeformAttn({ dModel: 8, nLevels: 2, nHeads: 2, nPoints: 2 });
    tf.tidy(() => {
      const q = tf.zeros([1, 3, 8]);
      const x = tf.zeros([1, 16, 8]);
      const shapes = [
        [3, 4],
        [2, 2],
      ];
      expect(() => module.forward(q, tf.zeros([1, 3, 2, 3]), x, shapes, [0, 12])).toThrow(
        /MSDeformAttn: argument 'referencePoints' expected last dimension 2 \(points\) or 4 \(boxes\)/,
      );
      expect(() => module.forward(q, tf.zeros([1, 3, 3, 2]), x, shapes, [0, 12])).toThrow(
        /argument 'referencePoints' .*dimension 2 = 2/,
      );
      expect(() => module.forward(tf.zeros([1, 3, 6]), tf.zeros([1, 3, 2, 2]), x, shapes, [0, 12])).toThrow(
        /argument 'query' .*dimension 2 = 8/,
      );
      expect(() =>
        module.forward(
          q,
          tf.zeros([1, 3, 2, 2]),
          x,
          [
            [3, 4],
            [2, 3],
          ],
          [0, 12],
        ),
      ).toThrow(/argument 'inputSpatialShapes' expected levels whose H\*W sum to S = 16/);
      expect(() => module.forward(q, tf.zeros([1, 3, 2, 2]), x, shapes, [0, 11])).toThrow(
        /argument 'inputLevelStartIndex' expected \[0, 12\]/,
      );
      expect(() => module.forward(q, tf.zeros([1, 3, 2, 2]), x, shapes, [0, 12], tf.zeros([1, 16]))).toThrow(
        /argument 'inputPaddingMask' expected dtype bool/,
      );
    });
    expect(() => new MSDeformAttn({ dModel: 10, nHeads: 4 })).toThrow(
      /MSDeformAttn: argument 'nHeads' expected a positive integer dividing dModel = 10/,
    );
    // A level of 2^32 + 2 rows must not act as one of 2 (the int32 copy wraps).
    tf.tidy(() => {
      const q = tf.zeros([1, 3, 8]);
      const x = tf.zeros([1, 16, 8]);
      const shapes = [
        [2 ** 32 + 2, 4],
        [2, 2],
      ];
      expect(() => module.forward(q, tf.zeros([1, 3, 2, 2]), x, shapes, [0, 12])).toThrow(
        /MSDeformAttn: argument 'inputSpatialShapes' expected positive integer rows \(H, W\) up to 2147483647, got \[\[4294967298, 4\], \[2, 2\]\]/,
      );
    });
    module.dispose();
    // A seed is an rng; anything else is refused before any parameter exists, so nothing leaks.
    new MSDeformAttn({ dModel: 8, nLevels: 1, nHeads: 2, nPoints: 1, rng: 3 }).dispose();
    await assertNoTensorLeak(() => {
      expect(() => new MSDeformAttn({ dModel: 8, rng: {} as never })).toThrow(
        /MSDeformAttn: argument 'rng' expected an Rng or an integer seed, got \[object Object\]/,
      );
    });
  });

  it('trains: the loss falls and the tensor count stays flat', async () => {
    await initBackend(backend);
    const [d, L] = [16, 2];
    const shapes = [
      [4, 4],
      [2, 2],
    ];
    const starts = [0, 16];
    const module = new MSDeformAttn({ dModel: d, nLevels: L, nHeads: 2, nPoints: 2, rng: new Rng(6) });
    const rng = new Rng(7);
    const query = rng.normalTensor([2, 6, d]);
    const ref = rng.uniformTensor([2, 6, L, 2], 0.1, 0.9);
    const input = rng.normalTensor([2, 20, d]);
    const target = rng.normalTensor([2, 6, d], 0, 0.5);
    const optimizer = tf.train.adam(1e-2);
    const step = () => {
      const cost = optimizer.minimize(
        () => tf.mean(tf.square(tf.sub(module.forward(query, ref, input, shapes, starts), target))) as tf.Scalar,
        true,
        module.trainableVariables(),
      );
      const value = cost!.dataSync()[0];
      cost!.dispose();
      return value;
    };
    const first = step();
    const countAfterFirst = tf.memory().numTensors;
    let last = first;
    for (let i = 0; i < 60; i++) last = await assertNoTensorLeak(step);
    expect(tf.memory().numTensors).toBe(countAfterFirst);
    expect(last).toBeLessThan(first * 0.5);
    // The sampling offsets and attention logits get gradients through the kernel and move from their init.
    const moved = tf.tidy(() => tf.max(tf.abs(module.samplingOffsets.weight)).dataSync()[0]);
    expect(moved).toBeGreaterThan(0);
    tf.dispose([query, ref, input, target]);
    optimizer.dispose();
    module.dispose();
  });
});
