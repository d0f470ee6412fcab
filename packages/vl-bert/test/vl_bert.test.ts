import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { initBackend } from '@deformjs/core';
import { TEST_BACKENDS, assertAllClose, assertNoTensorLeak } from '@deformjs/core/testing';
import { AdamW } from '@deformjs/nn';
import {
  boxGeometryEmbedding,
  collate,
  disposeBatch,
  groundingLoss,
  groundingScores,
  pretrainingLosses,
  crossEntropy,
  trainStep,
  vcrLogits,
  vqaLogits,
  vqaLoss,
  zeroBoxes,
} from '../src/index';
import { ANSWERS, SIZE, TINY, tinyBatch, tinyExamples, tinyModel, tokenizer, vcrBatch } from './helpers';

describe('visual feature embedding', () => {
  it('box geometry: sine/cosine of (cx, cy, w, h) / image x 100 over 1000^(i/dim), as upstream', async () => {
    await initBackend('cpu');
    const box = [4, 6, 20, 10];
    const [H, W] = [16, 32];
    const dim = 3;
    const position = [
      ((box[0] + box[2]) / 2 / W) * 100,
      ((box[1] + box[3]) / 2 / H) * 100,
      ((box[2] - box[0]) / W) * 100,
      ((box[3] - box[1]) / H) * 100,
    ];
    const expected = position.flatMap((p) => {
      const angles = [0, 1, 2].map((i) => p / 1000 ** (i / dim));
      return [...angles.map(Math.sin), ...angles.map(Math.cos)];
    });
    const e = boxGeometryEmbedding(tf.tensor2d([box]), [H, W], dim);
    expect(e.shape).toEqual([1, 8 * dim]);
    assertAllClose(e, expected, { atol: 1e-5, name: 'geometry' });
    e.dispose();
  });

  it('shapes: [CLS] text [SEP] + RoIs + [END] in one sequence; whole image for text, one per RoI', async () => {
    await initBackend('cpu');
    const model = tinyModel();
    model.eval();
    const batch = tinyBatch();
    const [B, T] = batch.textIds.shape;
    const R = batch.boxes.shape[1]!;
    expect([B, R]).toEqual([2, 3]);
    await assertNoTensorLeak(() => {
      const v = model.visualFeatures(batch.images, batch.boxes);
      expect(v.image.shape).toEqual([B, TINY.visualDim]);
      expect(v.rois.shape).toEqual([B, R, TINY.visualDim]);
      const out = model.forward(batch);
      expect(out.hiddenStates.map((h) => h.shape)).toEqual([
        [B, T + R + 1, 16],
        [B, T + R + 1, 16],
      ]);
      expect(out.text.shape).toEqual([B, T, 16]);
      expect(out.rois.shape).toEqual([B, R, 16]);
      tf.dispose([v.image, v.rois, ...out.hiddenStates, out.pooled, out.text, out.rois]);
    });
    disposeBatch(batch);
    model.dispose();
  });

  it('all RoIs share one position: reordering the boxes reorders the RoI outputs and leaves the text alone', async () => {
    await initBackend('cpu');
    const model = tinyModel();
    model.eval();
    const examples = tinyExamples();
    const a = collate(examples, SIZE, 0);
    const swapped = collate(
      [{ ...examples[0], boxes: [examples[0].boxes[2], examples[0].boxes[1], examples[0].boxes[0]] }, examples[1]],
      SIZE,
      0,
    );
    const outA = model.forward(a);
    const outB = model.forward(swapped);
    const rowsA = (await outA.rois.array()) as number[][][];
    const rowsB = (await outB.rois.array()) as number[][][];
    assertAllClose(tf.tensor(rowsB[0][2]), rowsA[0][0], { atol: 1e-4, name: 'roi 0 -> 2' });
    assertAllClose(tf.tensor(rowsB[0][0]), rowsA[0][2], { atol: 1e-4, name: 'roi 2 -> 0' });
    assertAllClose(outB.text, await outA.text.data(), { atol: 1e-4, name: 'text' });
    tf.dispose([outA, outB] as never);
    disposeBatch(a);
    disposeBatch(swapped);
    model.dispose();
  });

  it("visual 'zeroed' and 'none' take the image out: text outputs no longer depend on the pixels", async () => {
    await initBackend('cpu');
    const model = tinyModel();
    model.eval();
    const a = tinyBatch(0);
    const b = { ...tinyBatch(0), images: tf.randomNormal([2, SIZE, SIZE, 3], 0, 1, 'float32', 7) };
    const text = (batch: typeof a, visual: 'real' | 'zeroed' | 'none') =>
      tf.tidy(() => model.forward({ ...batch, visual }).text);
    const diff = (visual: 'real' | 'zeroed' | 'none') =>
      tf.tidy(() => tf.max(tf.abs(tf.sub(text(a, visual), text(b, visual)))).dataSync()[0]);
    expect(diff('real')).toBeGreaterThan(1e-3);
    expect(diff('zeroed')).toBe(0);
    expect(diff('none')).toBe(0);
    disposeBatch(a);
    disposeBatch(b);
    model.dispose();
  });

  it('by default (upstream: visual scale 0) the visual feature embedding starts at zero', async () => {
    await initBackend('cpu');
    const model = tinyModel({ visualScaleInit: undefined });
    model.eval();
    const batch = tinyBatch();
    const real = model.forward(batch);
    const zeroed = model.forward({ ...batch, visual: 'zeroed' });
    assertAllClose(real.lastHiddenState, await zeroed.lastHiddenState.data(), {
      atol: 1e-6,
      name: 'real = zeroed at init',
    });
    expect(Array.from(model.visual_ln_text.weight.dataSync())).toEqual(new Array(16).fill(0));
    tf.dispose([real, zeroed] as never);
    disposeBatch(batch);
    model.dispose();
  });

  it('zeroBoxes zeroes exactly the pixels inside masked boxes', () => {
    const image = new Float32Array(4 * 4 * 3).fill(1);
    zeroBoxes(image, 4, [[1, 0, 3, 2]]);
    const zeroed = [...Array(16).keys()].filter((p) => image[3 * p] === 0 && image[3 * p + 2] === 0);
    expect(zeroed).toEqual([1, 2, 5, 6]);
  });
});

for (const backend of TEST_BACKENDS) {
  describe(`training on ${backend}`, () => {
    it('pre-training, VQA, grounding and VCR steps keep the tensor count flat and lower their loss on one batch', async () => {
      await initBackend(backend);
      const model = tinyModel({ numAnswers: 3, grounding: true, vcr: true });
      const choices = vcrBatch();
      const optimizer = new AdamW(model.trainingVariables(), { lr: 1e-2, weightDecay: 0 });
      const batch = tinyBatch();
      const scores = tf.tensor2d([
        [1, 0.3, 0],
        [0, 0, 1],
      ]);
      const targets = tf.tensor2d([
        [0, 1, 0],
        [1, 0, 0],
      ]);
      const maskPositions = [1, 1 * batch.textIds.shape[1]! + 3];
      const objective = () =>
        tf.tidy(() => {
          const p = pretrainingLosses(model, batch);
          const vqa = vqaLoss(vqaLogits(model, batch, maskPositions), scores);
          const ground = groundingLoss(groundingScores(model, batch), targets, batch.roiMask);
          const vcr = crossEntropy(vcrLogits(model, choices), [2]);
          return tf.addN([p.loss, vqa, ground, vcr]) as tf.Scalar;
        });
      const first = trainStep(model, optimizer, objective);
      const losses = [first.loss];
      await assertNoTensorLeak(() => {
        for (let i = 0; i < 3; i++) losses.push(trainStep(model, optimizer, objective).loss);
      });
      expect(losses.every(Number.isFinite)).toBe(true);
      expect(losses[losses.length - 1]).toBeLessThan(losses[0]);
      tf.dispose([scores, targets]);
      disposeBatch(batch);
      disposeBatch(choices);
      model.dispose();
    }, 600_000); // seconds on an idle machine, minutes at low priority beside the session's trainings
  });
}

describe('VCR-style choice', () => {
  it('scores each candidate sequence from its [CLS] hidden state, one row of 4 per question', async () => {
    await initBackend('cpu');
    const model = tinyModel({ vcr: true });
    model.eval();
    const batch = vcrBatch();
    const logits = vcrLogits(model, batch);
    expect(logits.shape).toEqual([1, 4]);
    const cls = tf.tidy(() => model.vcr_head!.forward(tf.slice(model.forward(batch).text, [0, 0, 0], [4, 1, -1])));
    assertAllClose(logits, await cls.data(), { atol: 1e-6 });
    // Each choice is scored apart: reordering the answers reorders the scores.
    const swapped = vcrBatch([[3, 1, 2, 0].map((i) => ANSWERS[i])]);
    const reordered = vcrLogits(model, swapped);
    assertAllClose(
      reordered,
      [3, 1, 2, 0].map((i) => logits.dataSync()[i]),
      { atol: 1e-5 },
    );
    tf.dispose([logits, cls, reordered]);
    disposeBatch(batch);
    disposeBatch(swapped);
    model.dispose();
  });
});

describe('a batch where nothing is masked', () => {
  it('trains a step with zero loss instead of failing for a loss no variable reaches, leaking nothing', async () => {
    await initBackend('cpu');
    const model = tinyModel();
    const optimizer = new AdamW(model.trainingVariables(), { lr: 1e-2 });
    // BERT's 15% per word leaves short captions unmasked often (a 3-word caption: 0.85^3 = 61% of the time).
    const unmasked = tinyExamples().map((e) => ({ ...e, textLabels: e.ids.map(() => -1), roiLabels: undefined }));
    const batch = collate(unmasked, SIZE, tokenizer.id('[PAD]'));
    trainStep(model, optimizer, () => pretrainingLosses(model, batch).loss);
    await assertNoTensorLeak(() => {
      const result = trainStep(model, optimizer, () => pretrainingLosses(model, batch).loss);
      expect(result.loss).toBe(0);
    });
    disposeBatch(batch);
    optimizer.dispose();
    model.dispose();
  });
});

describe('a frozen backbone', () => {
  it('is left out of training and stays unchanged by a step', async () => {
    await initBackend('cpu');
    const model = tinyModel({ trainBackbone: false });
    const names = new Set(model.trainingVariables().map((v) => v.name));
    const backbone = model.namedParameters().filter(([n, p]) => n.startsWith('backbone.') && p.trainable);
    expect(backbone.length).toBeGreaterThan(0);
    expect(backbone.some(([, p]) => names.has(p.variable.name))).toBe(false);
    const before = backbone.map(([, p]) => p.variable.dataSync().slice());
    const optimizer = new AdamW(model.trainingVariables(), { lr: 1e-2 });
    const batch = tinyBatch();
    trainStep(model, optimizer, () => pretrainingLosses(model, batch).loss);
    backbone.forEach(([name, p], i) => expect(Array.from(p.variable.dataSync()), name).toEqual(Array.from(before[i])));
    disposeBatch(batch);
    model.dispose();
  });
});

describe('precomputed region features', () => {
  /** The tiny examples with a feature row per box (a masked RoI's zeroed, as the app does). */
  const withRegions = (seed = 0, D = 6) =>
    tinyExamples(seed).map((e, b) => ({
      ...e,
      roiFeatures: e.boxes.map((_, r) => Array.from({ length: D }, (_, d) => (b + 1) * (r + 1) + d / 10)),
    }));

  it('replace backbone + RoIAlign: no backbone, the whole image is the mean of the real RoIs, padding ignored', async () => {
    await initBackend('cpu');
    const model = tinyModel({ regionFeatureDim: 6 });
    model.eval();
    expect(model.backbone).toBeNull();
    expect(model.namedParameters().some(([n]) => n.startsWith('backbone.'))).toBe(false);
    const batch = collate(withRegions(), SIZE, tokenizer.id('[PAD]'));
    expect(batch.roiFeatures!.shape).toEqual([2, 3, 6]);
    // Example 1 has one real RoI and two padding rows (zeros): its whole-image feature is its RoI's.
    const v = model.visualFeatures(batch.images, batch.boxes, { features: batch.roiFeatures!, roiMask: batch.roiMask });
    const expected = tf.tidy(() => {
      const rows = tf.concat([
        tf.mean(tf.slice(batch.roiFeatures!, [0, 0, 0], [1, 3, 6]), 1),
        tf.reshape(tf.slice(batch.roiFeatures!, [1, 0, 0], [1, 1, 6]), [1, 6]),
      ]);
      const geometry = boxGeometryEmbedding(
        tf.tensor2d([
          [0, 0, SIZE, SIZE],
          [0, 0, SIZE, SIZE],
        ]),
        [SIZE, SIZE],
        TINY.geometryDim!,
      );
      return model.obj_downsample.forward(tf.concat([rows, geometry], -1));
    });
    assertAllClose(v.image, await expected.data(), { atol: 1e-5, name: 'whole image = mean of real RoIs' });
    // The pixels no longer matter; the features do.
    const other = { ...batch, images: tf.randomNormal([2, SIZE, SIZE, 3], 0, 1, 'float32', 7) };
    const changed = collate(
      withRegions(0, 6).map((e) => ({ ...e, roiFeatures: e.roiFeatures.map((f) => f.map((x) => -x)) })),
      SIZE,
      tokenizer.id('[PAD]'),
    );
    const text = (b: typeof batch) => tf.tidy(() => model.forward(b).text);
    const [a, p, f] = [text(batch), text(other), text(changed)];
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(a, p))).dataSync()[0])).toBe(0);
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(a, f))).dataSync()[0])).toBeGreaterThan(1e-3);
    tf.dispose([v.image, v.rois, expected, other.images, a, p, f]);
    disposeBatch(batch);
    disposeBatch(changed);
    model.dispose();
  });

  it('train with a flat tensor count; errors name roiFeatures', async () => {
    await initBackend('cpu');
    const model = tinyModel({ regionFeatureDim: 6 });
    const batch = collate(withRegions(), SIZE, tokenizer.id('[PAD]'));
    const optimizer = new AdamW(model.trainingVariables(), { lr: 1e-2 });
    const losses = [trainStep(model, optimizer, () => pretrainingLosses(model, batch).loss).loss];
    await assertNoTensorLeak(() => {
      for (let i = 0; i < 3; i++)
        losses.push(trainStep(model, optimizer, () => pretrainingLosses(model, batch).loss).loss);
    });
    expect(losses[3]).toBeLessThan(losses[0]);
    const plain = tinyBatch();
    expect(() => model.forward(plain)).toThrow(/VLBert\.visualFeatures.*roiFeatures.*none/);
    expect(() => model.forward({ ...plain, roiFeatures: tf.zeros([2, 3, 5]) })).toThrow(/roiFeatures/);
    const [first, second] = withRegions();
    expect(() => collate([first, { ...second, roiFeatures: undefined }], SIZE, 0)).toThrow(
      /examples\[1\]\.roiFeatures.*none/,
    );
    expect(() => collate([first, { ...second, roiFeatures: [[1, 2]] }], SIZE, 0)).toThrow(
      /examples\[1\]\.roiFeatures.*1 rows of 6/,
    );
    expect(() => collate([tinyExamples()[0], second], SIZE, 0)).toThrow(
      /examples\[1\]\.roiFeatures.*none \(examples\[0\]/,
    );
    expect(() => tinyModel({ regionFeatureDim: -1 })).toThrow(/config\.regionFeatureDim/);
    optimizer.dispose();
    disposeBatch(batch);
    disposeBatch(plain);
    model.dispose();
  });
});

describe('errors name the argument', () => {
  it('config and inputs', async () => {
    await initBackend('cpu');
    expect(() => tinyModel({ roiSize: 0 })).toThrow(/config\.roiSize/);
    expect(() => tinyModel({ imgTokenId: 10_000 })).toThrow(/config\.imgTokenId/);
    const model = tinyModel();
    const batch = tinyBatch();
    expect(() => model.forward({ ...batch, boxes: tf.zeros([2, 3, 5]) })).toThrow(/boxes/);
    expect(() => model.forward({ ...batch, visual: 'blurred' as 'real' })).toThrow(/visual.*blurred/);
    expect(() => vqaLogits(model, batch, [0, 1])).toThrow(/model.*numAnswers/);
    expect(() => vcrLogits(model, batch)).toThrow(/vcrLogits.*model.*config\.vcr/);
    const withVcr = tinyModel({ vcr: true });
    expect(() => vcrLogits(withVcr, batch)).toThrow(/vcrLogits.*batch.*multiple of 4.*2/);
    withVcr.dispose();
    expect(() => collate([], SIZE, 0)).toThrow(/examples/);
    expect(() => collate([{ ...tinyExamples()[0], image: new Float32Array(5) }], SIZE, 0)).toThrow(
      /examples\[0\]\.image.*5/,
    );
    disposeBatch(batch);
    model.dispose();
    expect(tokenizer.id('[MASK]')).toBe(4);
  });
});
