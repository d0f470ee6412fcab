import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { initBackend, Rng } from '@deformjs/core';
import { assertNoTensorLeak } from '@deformjs/core/testing';
import { AdamW } from '@deformjs/nn';
import { decodeCheckpoint, encodeCheckpoint } from '@deformjs/weights';
import {
  DETR,
  DeformableDETR,
  SetCriterion,
  paramGroups,
  trainStep,
  disposeOutputs,
  type DeformableDetrConfig,
  type TrainBatch,
} from '../src/index';

const TINY: DeformableDetrConfig = {
  backbone: { depth: 18, width: 8 },
  hiddenDim: 32,
  nHeads: 4,
  encLayers: 1,
  decLayers: 2,
  dimFeedforward: 64,
  dropout: 0,
  numFeatureLevels: 3,
  encNPoints: 2,
  decNPoints: 2,
  numQueries: 8,
  numClasses: 2,
  withBoxRefine: false,
  twoStage: false,
  groupNormGroups: 8,
  seed: 1,
};

/** Images with one or two filled rectangles, class = colour (red 0, green 1); the second image padded. */
function toyBatch(rng: Rng, size = 64): TrainBatch {
  const n = 2;
  const pixels = new Float32Array(n * size * size * 3).fill(-1);
  const mask = new Uint8Array(n * size * size);
  const targets = [];
  for (let b = 0; b < n; b++) {
    const valid = b === 0 ? size : size - 16;
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) if (y >= valid || x >= valid) mask[(b * size + y) * size + x] = 1;
    const count = 1 + rng.int(2);
    const boxes: number[] = [];
    const labels: number[] = [];
    for (let k = 0; k < count; k++) {
      const w = 10 + rng.int(20);
      const h = 10 + rng.int(20);
      const x0 = rng.int(valid - w);
      const y0 = rng.int(valid - h);
      const label = rng.int(2);
      for (let y = y0; y < y0 + h; y++)
        for (let x = x0; x < x0 + w; x++)
          pixels.set(label === 0 ? [2, -1, -1] : [-1, 2, -1], ((b * size + y) * size + x) * 3);
      boxes.push((x0 + w / 2) / valid, (y0 + h / 2) / valid, w / valid, h / valid);
      labels.push(label);
    }
    targets.push({ boxes: Float32Array.from(boxes), labels: Int32Array.from(labels) });
  }
  return { images: tf.tensor4d(pixels, [n, size, size, 3]), mask: tf.tensor3d(mask, [n, size, size], 'bool'), targets };
}

const disposeBatch = (b: TrainBatch) => tf.dispose([b.images, b.mask]);

describe('training (wasm)', () => {
  it('the loss falls over a few dozen steps on a handful of toy images, without leaking tensors', async () => {
    await initBackend('wasm');
    const rng = new Rng(3);
    const batches = [toyBatch(rng), toyBatch(rng)];
    const model = new DeformableDETR(TINY);
    const criterion = new SetCriterion({ numClasses: 2 });
    const optimizer = new AdamW(paramGroups(model), { lr: 1e-3, weightDecay: 1e-4 });
    const losses: number[] = [];
    for (let step = 0; step < 40; step++)
      losses.push(trainStep(model, criterion, optimizer, batches[step % 2], { clipMaxNorm: 1 }).loss);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(losses.slice(-6))).toBeLessThan(0.6 * mean(losses.slice(0, 6)));
    await assertNoTensorLeak(() => void trainStep(model, criterion, optimizer, batches[0]));
    batches.forEach(disposeBatch);
    optimizer.dispose();
    model.dispose();
  });

  it('two-stage with box refinement trains without leaks; shared heads are optimised once', async () => {
    await initBackend('wasm');
    const model = new DeformableDETR({
      ...TINY,
      withBoxRefine: true,
      twoStage: true,
      numFeatureLevels: 4,
      dropout: 0.1,
    });
    const groups = paramGroups(model);
    const all = groups.flatMap((g) => g.params);
    expect(new Set(all).size).toBe(all.length);
    expect(groups.map((g) => g.lrScale ?? 1)).toEqual([1, 0.1, 0.1]);
    const frozen = paramGroups(model, { freezeBackboneStem: true });
    const stem = model.backbone.body.conv1.weight;
    expect(all).toContain(stem);
    expect(frozen.flatMap((g) => g.params)).not.toContain(stem);
    expect(frozen[1].params.length).toBeLessThan(groups[1].params.length);
    const noBackbone = paramGroups(model, { backbone: 0 });
    expect(noBackbone.map((g) => g.params.length)).toEqual([groups[0].params.length, groups[2].params.length]);
    const backbone = [...model.namedParameters()].filter(([name]) => name.startsWith('backbone.0.'));
    expect(backbone.length).toBeGreaterThan(0);
    expect(noBackbone.flatMap((g) => g.params).filter((v) => backbone.some(([, p]) => p.variable === v))).toEqual([]);
    const criterion = new SetCriterion({ numClasses: 2 });
    const optimizer = new AdamW(groups, { lr: 1e-4 });
    const batch = toyBatch(new Rng(4));
    const first = trainStep(model, criterion, optimizer, batch);
    expect(Object.keys(first.components)).toContain('loss_giou_enc');
    expect(Object.keys(first.components)).toContain('loss_ce_0');
    await assertNoTensorLeak(() => void trainStep(model, criterion, optimizer, batch));
    disposeBatch(batch);
    optimizer.dispose();
    model.dispose();
  });

  it('plain DETR: outputs with the no-object class; its loss falls on one batch, without leaks', async () => {
    await initBackend('wasm');
    const model = new DETR({
      backbone: { depth: 18, width: 8 },
      hiddenDim: 32,
      nHeads: 4,
      encLayers: 1,
      decLayers: 2,
      dimFeedforward: 64,
      dropout: 0.1,
      numQueries: 8,
      numClasses: 2,
      seed: 0,
    });
    const batch = toyBatch(new Rng(5));
    const out = model.forward(batch.images, batch.mask);
    expect(out.predLogits.shape).toEqual([2, 8, 3]);
    expect(out.aux).toHaveLength(1);
    disposeOutputs(out);
    const criterion = new SetCriterion({ numClasses: 2, kind: 'softmax' });
    const optimizer = new AdamW(paramGroups(model), { lr: 1e-3 });
    const losses: number[] = [];
    for (let step = 0; step < 50; step++)
      losses.push(trainStep(model, criterion, optimizer, batch, { clipMaxNorm: 1 }).loss);
    expect(losses.slice(-5).reduce((a, b) => a + b) / 5).toBeLessThan(
      0.6 * (losses.slice(0, 5).reduce((a, b) => a + b) / 5),
    );
    await assertNoTensorLeak(() => void trainStep(model, criterion, optimizer, batch));
    disposeBatch(batch);
    optimizer.dispose();
    model.dispose();
  });

  it('a checkpoint resumes exactly: the next step has the same loss as without the interruption', async () => {
    await initBackend('wasm');
    const config = { ...TINY, dropout: 0.1 };
    const batch = toyBatch(new Rng(6));
    const criterion = new SetCriterion({ numClasses: 2 });
    const model = new DeformableDETR(config);
    const optimizer = new AdamW(paramGroups(model), { lr: 1e-3 });
    for (let i = 0; i < 2; i++) trainStep(model, criterion, optimizer, batch);
    const bytes = encodeCheckpoint({ model, optimizer, step: 2, epoch: 0, rngs: { noise: model.noise.rng }, config });
    const expected = trainStep(model, criterion, optimizer, batch).loss;

    const resumed = new DeformableDETR({ ...config, seed: 99 });
    const resumedOptimizer = new AdamW(paramGroups(resumed), { lr: 1e-3 });
    const state = decodeCheckpoint(bytes, { model: resumed, optimizer: resumedOptimizer });
    resumed.noise.restore(state.rngStates.noise);
    expect(state.step).toBe(2);
    expect(trainStep(resumed, criterion, resumedOptimizer, batch).loss).toBe(expected);
    disposeBatch(batch);
    [optimizer, resumedOptimizer].forEach((o) => o.dispose());
    [model, resumed].forEach((m) => m.dispose());
  });
});

describe('errors', () => {
  it('bad configurations and inputs name the argument', async () => {
    await initBackend('cpu');
    expect(() => new DeformableDETR({ ...TINY, numFeatureLevels: 2 })).toThrow(/DeformableDETR.*numFeatureLevels/);
    expect(() => new DeformableDETR({ ...TINY, groupNormGroups: 5 })).toThrow(
      /DeformableDETR.*groupNormGroups.*divisor of hiddenDim = 32/,
    );
    expect(() => new DeformableDETR({ ...TINY, nHeads: 3 })).toThrow(/DeformableDETR.*nHeads/);
    expect(() => new DeformableDETR({ ...TINY, backbone: { depth: 20 as 18, width: 8 } })).toThrow(/backbone\.depth/);
    expect(() => new DeformableDETR({ ...TINY, dropout: 1 })).toThrow(/dropout/);
    const model = new DeformableDETR(TINY);
    const images = tf.zeros([1, 32, 32, 3]);
    expect(() => model.forward(tf.zeros([1, 3, 32, 32]), tf.zeros([1, 3, 32], 'bool'))).toThrow(
      /DeformableDETR\.forward.*images/,
    );
    expect(() => model.forward(images, tf.zeros([1, 32, 32]))).toThrow(/DeformableDETR\.forward.*mask.*bool/);
    expect(() => model.forward(images, tf.zeros([1, 30, 32], 'bool'))).toThrow(/DeformableDETR\.forward.*mask/);
    model.dispose();
    const twoStage = new DeformableDETR({ ...TINY, twoStage: true, numQueries: 500 });
    expect(() => twoStage.forward(images, tf.zeros([1, 32, 32], 'bool'))).toThrow(/top numQueries = 500/);
    twoStage.dispose();
  });
});
