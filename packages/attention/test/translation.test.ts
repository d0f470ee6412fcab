import * as tf from '@tensorflow/tfjs-core';
import { Rng, initBackend } from '@deformjs/core';
import { assertNoTensorLeak } from '@deformjs/core/testing';
import { AdamW, optimizationStep } from '@deformjs/nn';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  BOS,
  NOUNS,
  TranslationTransformer,
  crossEntropy,
  greedyDecode,
  makePairs,
  shiftRight,
  translateWord,
} from '../scripts/translation';

const SMALL = {
  encoderSelf: '0100',
  encoderDecoder: '1000',
  decoderSelf: '0010',
  width: 8,
  heads: 2,
  layers: 1,
  feedforward: 16,
  absolutePositions: true,
};

beforeAll(async () => {
  await initBackend('wasm');
});

describe('toy translation task', () => {
  it('translates word by word and puts every noun before its adjectives, reversed', () => {
    const length = 9;
    const { source, target } = makePairs(new Rng(4), 60, length);
    const vocabulary = new Set<number>();
    const runs = new Set<number>();
    for (let s = 0; s < 60; s++) {
      const src = Array.from(source.subarray(s * length, (s + 1) * length));
      // Read the source as phrases (adjectives up to a noun) and reorder each phrase by hand.
      const expected: number[] = [];
      let phrase: number[] = [];
      for (const word of src) {
        phrase.push(word);
        if (word < NOUNS) {
          runs.add(phrase.length - 1);
          expected.push(...[...phrase].reverse().map(translateWord));
          phrase = [];
        }
      }
      expect(phrase).toEqual([]); // every sentence ends with a noun
      expect(Array.from(target.subarray(s * length, (s + 1) * length))).toEqual(expected);
      src.forEach((w) => vocabulary.add(w));
    }
    expect([...runs].sort()).toEqual([0, 1, 2]);
    expect(vocabulary.size).toBe(32);
    expect(new Set(Array.from({ length: 32 }, (_, w) => translateWord(w))).size).toBe(32);
  });

  it('teacher forcing reads BOS and the target shifted right', () => {
    expect(Array.from(shiftRight(Int32Array.from([1, 2, 3, 4, 5, 6]), 2, 3))).toEqual([BOS, 1, 2, BOS, 4, 5]);
  });
});

describe('TranslationTransformer', () => {
  it('greedy decoding on its own outputs equals the teacher-forced argmax on them (the causal mask holds)', () => {
    const model = new TranslationTransformer(SMALL, 0);
    const length = 6;
    const { source } = makePairs(new Rng(1), 4, length);
    const decoded = greedyDecode(model, source, length);
    const again = tf.tidy(() => {
      const logits = model.forward(
        tf.tensor2d(source, [4, length], 'int32'),
        tf.tensor2d(shiftRight(decoded, 4, length), [4, length], 'int32'),
      );
      return tf.argMax(logits, -1).dataSync();
    });
    expect(Array.from(again)).toEqual(Array.from(decoded));
    model.dispose();
  });

  it('a training step lowers the loss on its batch and leaves the tensor count flat', async () => {
    const model = new TranslationTransformer(SMALL, 1);
    const optimizer = new AdamW(model.trainableVariables(), { lr: 1e-2, weightDecay: 0 });
    const length = 6;
    const { source, target } = makePairs(new Rng(2), 8, length);
    const src = tf.tensor2d(source, [8, length], 'int32');
    const tgt = tf.tensor2d(target, [8, length], 'int32');
    const input = tf.tensor2d(shiftRight(target, 8, length), [8, length], 'int32');
    const step = () =>
      optimizationStep(
        () => ({ loss: crossEntropy(model.forward(src, input), tgt), components: {} }),
        model.trainableVariables(),
        optimizer,
        1,
      ).loss;
    const first = step(); // creates the optimizer's moments
    const second = await assertNoTensorLeak(step);
    expect(second).toBeLessThan(first);
    tf.dispose([src, tgt, input]);
    optimizer.dispose();
    model.dispose();
  });
});
