import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@deformjs/core';
import { assertNoTensorLeak } from '@deformjs/core/testing';
import { AdamW, optimizationStep } from '@deformjs/nn';
import { associationLoss, DEFAULT_TRACKER, EmbeddingHead } from '../src/index';

// Starting wasm can take minutes on a loaded machine: more than the shared 120 s hook timeout.
beforeAll(async () => {
  await initBackend('wasm');
}, 600_000);

const HEAD = { level: 1, poolSize: 2, hidden: 8, dim: 4, seed: 0 };

describe('embedding head and association loss', () => {
  it('the loss is the cross-entropy of the softmax over [null, tracklets] of gamma * cosine', () => {
    const detections = tf.tensor2d([
      [1, 0],
      [0, 2],
    ]);
    const tracklets = tf.tensor2d([
      [2, 0],
      [1, 1],
    ]);
    const loss = associationLoss(detections, tracklets, Int32Array.of(1, 0), DEFAULT_TRACKER);
    // Detection 0: logits 10 * [0.5, 1, 1/sqrt2], target tracklet 1; detection 1: 10 * [0.5, 0, 1/sqrt2], target null.
    const ce = (logits: number[], target: number) =>
      -logits[target] + Math.log(logits.reduce((s, l) => s + Math.exp(l), 0));
    const expected = (ce([5, 10, 10 / Math.SQRT2], 1) + ce([5, 0, 10 / Math.SQRT2], 0)) / 2;
    expect(loss.dataSync()[0]).toBeCloseTo(expected, 4);
    expect(() => associationLoss(detections, tracklets, Int32Array.of(1), DEFAULT_TRACKER)).toThrow(
      /associationLoss.*targets/,
    );
    expect(() => associationLoss(detections, tracklets, Int32Array.of(3, 0), DEFAULT_TRACKER)).toThrow(
      /associationLoss.*targets\[0\].*\[0, 2\].*3/,
    );
    expect(() => associationLoss(detections, tf.zeros([2, 3]), Int32Array.of(1, 0), DEFAULT_TRACKER)).toThrow(
      /associationLoss.*tracklets/,
    );
    tf.dispose([detections, tracklets, loss]);
  });

  it('embeds boxes from a feature map and learns to tell two objects apart (tensor count flat)', async () => {
    const head = new EmbeddingHead(3, HEAD);
    // Two pyramid levels of a 32 x 32 input; level 1 (stride 4) holds a red blob left and a green one right.
    const level1 = tf.tidy(() => {
      const left = tf.pad(tf.ones([1, 4, 4, 1]), [
        [0, 0],
        [2, 2],
        [0, 4],
        [0, 0],
      ]);
      return tf.concat([left, tf.reverse(left, 2), tf.zeros([1, 8, 8, 1])], 3);
    });
    const features = [tf.zeros([1, 16, 16, 3]), level1];
    const boxes = tf.tensor2d([
      [0, 0, 8, 16, 24],
      [0, 16, 8, 32, 24],
    ]);
    const optimizer = new AdamW([{ params: head.trainableVariables() }], { lr: 1e-2, weightDecay: 0 });
    // The same boxes as detections and as tracklets: each is its own tracklet's positive, the other a negative.
    const step = () =>
      optimizationStep(
        () => {
          const e = head.forward(features, [32, 32], boxes);
          const loss = associationLoss(e, e, Int32Array.of(1, 2), DEFAULT_TRACKER);
          return { loss, components: { loss } };
        },
        head.trainableVariables(),
        optimizer,
        10,
      );
    const first = step().loss;
    for (let i = 0; i < 20; i++) step();
    const result = await assertNoTensorLeak(step);
    expect(result.loss).toBeLessThan(0.5 * first);
    const e = head.forward(features, [32, 32], boxes);
    expect(e.shape).toEqual([2, 4]);
    expect(() => head.forward([features[0]], [32, 32], boxes)).toThrow(/EmbeddingHead.*features.*2 feature maps/);
    expect(() => head.forward(features, [32, 32], tf.zeros([2, 4]))).toThrow(/EmbeddingHead.*boxes/);
    expect(() => new EmbeddingHead(3, { ...HEAD, dim: 0 })).toThrow(/EmbeddingHead.*config.dim/);
    tf.dispose([...features, boxes, e]);
    optimizer.dispose();
    head.dispose();
  });
});
