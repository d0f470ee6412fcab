import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { initBackend, Rng } from '@deformjs/core';
import { assertAllClose } from '@deformjs/core/testing';
import {
  IGNORE,
  binaryCrossEntropyWithLogits,
  crossEntropy,
  disposeBatch,
  groundingLoss,
  pretrainingLosses,
  softCrossEntropy,
  vcrLogits,
  vqaLoss,
} from '../src/index';
import { ANSWERS, TINY, tinyBatch, tinyModel, vcrBatch } from './helpers';

// float64 references written out from the definitions (log-sum-exp and log(1 + e^x) in double precision).
const logSoftmax = (row: number[]) => {
  const m = Math.max(...row);
  const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
  return row.map((v) => v - lse);
};
const softCe = (logits: number[][], targets: number[][]) =>
  -logits.reduce((s, row, i) => s + logSoftmax(row).reduce((a, l, c) => a + l * targets[i][c], 0), 0) / logits.length;
const bce = (x: number, t: number) => Math.log1p(Math.exp(-Math.abs(x))) + Math.max(x, 0) - x * t;

const rng = new Rng(5);
const matrix = (n: number, c: number, scale: number) =>
  Array.from({ length: n }, () => Array.from({ length: c }, () => rng.normal(0, scale)));

describe('losses against float64 references', () => {
  it('soft cross-entropy (soft RoI targets), including large logits', async () => {
    await initBackend('cpu');
    const logits = [...matrix(3, 5, 2), [60, -40, 0, 1, 2]];
    const targets = logits.map((row) => {
      const p = row.map(() => rng.next());
      const s = p.reduce((a, b) => a + b);
      return p.map((v) => v / s);
    });
    const loss = softCrossEntropy(tf.tensor2d(logits), tf.tensor2d(targets));
    expect(loss.dataSync()[0]).toBeCloseTo(softCe(logits, targets), 4);
    const empty = softCrossEntropy(tf.zeros([0, 5]), tf.zeros([0, 5]));
    expect(empty.dataSync()[0]).toBe(0);
    tf.dispose([loss, empty]);
  });

  it('cross-entropy over class ids (MLM words, hard RoI labels)', async () => {
    await initBackend('cpu');
    const logits = matrix(4, 7, 3);
    const labels = [6, 0, 3, 3];
    const oneHot = labels.map((l) => Array.from({ length: 7 }, (_, c) => (c === l ? 1 : 0)));
    const loss = crossEntropy(tf.tensor2d(logits), labels);
    expect(loss.dataSync()[0]).toBeCloseTo(softCe(logits, oneHot), 4);
    expect(() => crossEntropy(tf.tensor2d(logits), [1, 2])).toThrow(/logits/);
    loss.dispose();
  });

  it('BCE with logits, weighted; VQA soft-score BCE (mean x answers); grounding BCE over real RoIs', async () => {
    await initBackend('cpu');
    const logits = [...matrix(2, 4, 4), [80, -80, 0.5, -0.5]];
    const scores = logits.map((row) => row.map(() => [0, 0.3, 0.6, 0.9, 1][rng.int(5)]));
    const weights = logits.map((row) => row.map(() => (rng.next() < 0.7 ? 1 : 0)));
    let sum = 0;
    let wsum = 0;
    let all = 0;
    logits.forEach((row, i) =>
      row.forEach((x, c) => {
        sum += weights[i][c] * bce(x, scores[i][c]);
        wsum += weights[i][c];
        all += bce(x, scores[i][c]);
      }),
    );
    const [l, s, w] = [tf.tensor2d(logits), tf.tensor2d(scores), tf.tensor2d(weights)];
    const weighted = binaryCrossEntropyWithLogits(l, s, w);
    expect(weighted.dataSync()[0]).toBeCloseTo(sum / wsum, 4);
    const ground = groundingLoss(l, s, w);
    expect(ground.dataSync()[0]).toBeCloseTo(sum / wsum, 4);
    const vqa = vqaLoss(l, s);
    expect(vqa.dataSync()[0]).toBeCloseTo((all / (3 * 4)) * 4, 4);
    // d/dx = sigmoid(x) - t (weighted, normalised): the gradient the optimiser sees.
    const grad = tf.grad((x: tf.Tensor) => binaryCrossEntropyWithLogits(x, s, w))(l);
    const expected = logits.flatMap((row, i) =>
      row.map((x, c) => ((1 / (1 + Math.exp(-x)) - scores[i][c]) * weights[i][c]) / wsum),
    );
    assertAllClose(grad, expected, { atol: 1e-6, name: 'd bce / d logits' });
    expect(() => binaryCrossEntropyWithLogits(l, tf.zeros([3, 3]))).toThrow(/targets/);
    tf.dispose([l, s, w, weighted, ground, vqa, grad]);
  });
});

describe('the model objectives against float64 references over their own logits', () => {
  const hardCe = (logits: number[][], labels: number[]) =>
    -logits.reduce((s, row, i) => s + logSoftmax(row)[labels[i]], 0) / logits.length;

  it('pre-training: MLM over the labelled words + masked RoI classification over the labelled RoIs', async () => {
    await initBackend('cpu');
    const model = tinyModel();
    model.eval();
    const batch = tinyBatch();
    const losses = pretrainingLosses(model, batch);
    const out = model.forward(batch);
    const H = TINY.hiddenSize;
    const wordLogits = tf.tidy(() => model.cls.predictions.forward(tf.reshape(out.text, [-1, H])).arraySync());
    const roiLogits = tf.tidy(() => model.mvrc_head.forward(tf.reshape(out.rois, [-1, H])).arraySync());
    const labelled = (labels: Int32Array, rows: number[][]) => {
      const kept = [...labels.keys()].filter((i) => labels[i] !== IGNORE);
      expect(kept.length).toBeGreaterThan(0);
      return hardCe(
        kept.map((i) => rows[i]),
        kept.map((i) => labels[i]),
      );
    };
    const mlm = labelled(batch.textLabels, wordLogits as number[][]);
    const mvrc = labelled(batch.roiLabels, roiLogits as number[][]);
    expect(losses.mlm.dataSync()[0]).toBeCloseTo(mlm, 4);
    expect(losses.mvrc.dataSync()[0]).toBeCloseTo(mvrc, 4);
    expect(losses.loss.dataSync()[0]).toBeCloseTo(mlm + mvrc, 4);
    tf.dispose([losses, out] as never);
    disposeBatch(batch);
    model.dispose();
  });

  it('VCR: softmax cross-entropy over each question’s 4 choice scores', async () => {
    await initBackend('cpu');
    const model = tinyModel({ vcr: true });
    model.eval();
    const batch = vcrBatch([ANSWERS, ['one', 'no', 'three', 'yes']]);
    const logits = vcrLogits(model, batch);
    expect(logits.shape).toEqual([2, 4]);
    const loss = crossEntropy(logits, [1, 3]);
    expect(loss.dataSync()[0]).toBeCloseTo(hardCe(logits.arraySync() as number[][], [1, 3]), 5);
    tf.dispose([logits, loss]);
    disposeBatch(batch);
    model.dispose();
  });
});
