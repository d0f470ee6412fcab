import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@deformjs/core';
import { binaryCrossEntropyWithLogits, cosineMimicLoss, crossEntropy, smoothL1Sum } from '../src/index';

const fixture = JSON.parse(readFileSync(new URL('./fixtures/losses.json', import.meta.url).pathname, 'utf8'));

describe('losses against PyTorch (float64 reference)', () => {
  beforeAll(async () => {
    await initBackend('cpu');
  });

  it('smoothL1Sum is F.smooth_l1_loss(beta 1/9, sum)', () => {
    const { input, target, beta } = fixture.smooth_l1;
    const loss = smoothL1Sum(tf.tensor2d(input), tf.tensor2d(target), beta);
    expect(loss.dataSync()[0]).toBeCloseTo(fixture.smooth_l1.sum, 5);
  });

  it('binaryCrossEntropyWithLogits is F.binary_cross_entropy_with_logits (mean), stable for large logits', () => {
    const loss = binaryCrossEntropyWithLogits(tf.tensor1d(fixture.bce.logits), tf.tensor1d(fixture.bce.targets));
    expect(loss.dataSync()[0]).toBeCloseTo(fixture.bce.mean, 5);
    const extreme = binaryCrossEntropyWithLogits(tf.tensor1d([200, -200]), tf.tensor1d([0, 1]));
    expect(extreme.dataSync()[0]).toBeCloseTo(200, 3);
  });

  it('crossEntropy is F.cross_entropy (mean)', () => {
    const loss = crossEntropy(
      tf.tensor2d(fixture.cross_entropy.logits),
      tf.tensor1d(fixture.cross_entropy.labels, 'int32'),
    );
    expect(loss.dataSync()[0]).toBeCloseTo(fixture.cross_entropy.mean, 5);
  });

  it('cosineMimicLoss is mean(1 - F.cosine_similarity)', () => {
    const loss = cosineMimicLoss(tf.tensor2d(fixture.mimic.a), tf.tensor2d(fixture.mimic.b));
    expect(loss.dataSync()[0]).toBeCloseTo(fixture.mimic.mean, 5);
  });

  it('smoothL1Sum has the gradient of the piecewise function on both sides of beta', () => {
    const x = tf.tensor2d([[0.05, -0.05, 0.5, -0.5]]);
    const grad = tf.grad((v: tf.Tensor) => smoothL1Sum(v, tf.zerosLike(v), 1 / 9))(x);
    // x / beta inside, sign(x) outside.
    expect(Array.from(grad.dataSync())).toEqual([0.45, -0.45, 1, -1].map((v) => expect.closeTo(v, 5)));
  });

  it('errors name the argument', () => {
    expect(() => smoothL1Sum(tf.zeros([3, 4]), tf.zeros([2, 4]), 1)).toThrow(/smoothL1Sum.*target/);
    expect(() => crossEntropy(tf.zeros([3]), tf.zeros([3], 'int32'))).toThrow(/crossEntropy.*logits/);
    expect(() => cosineMimicLoss(tf.zeros([3, 4]), tf.zeros([3, 5]))).toThrow(/cosineMimicLoss.*b/);
  });
});
