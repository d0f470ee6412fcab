import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@deformjs/core';
import { assertAllClose, assertNoTensorLeak } from '@deformjs/core/testing';
import { AdamW, optimizationStep } from '@deformjs/nn';
import { UnifiedVOD } from '../src/index';
import { movingSquareClip, tinyDetector } from './helpers';

const SIZE: [number, number] = [64, 64];
const CONFIG = { flownet: { width: 4, seed: 2 }, embedChannels: 8, seed: 5 };
const FIXED = { keyInterval: 2, adaptive: false, tau: 0, gamma: 0.5 };

beforeAll(async () => {
  await initBackend('wasm');
});

describe('UnifiedVOD (1711.11577) around Faster R-CNN', () => {
  it('partial update: Q <= tau everywhere recomputes, nowhere propagates, and mixes per position', () => {
    const unified = new UnifiedVOD(tinyDetector(), CONFIG);
    const own = [tf.randomNormal([1, 4, 4, 3], 0, 1, 'float32', 1), tf.randomNormal([1, 2, 2, 3], 0, 1, 'float32', 2)];
    const propagated = own.map((f) => tf.add(f, 10));
    // Q at stride 4 of a 16 x 16 input: the left half below 0.5, the right half above.
    const quality = tf.tensor4d([0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1], [1, 4, 4, 1]);
    const all = unified.partialUpdate(own, propagated, quality, 2);
    const none = unified.partialUpdate(own, propagated, quality, -1);
    const half = unified.partialUpdate(own, propagated, quality, 0.5);
    own.forEach((f, l) => {
      assertAllClose(all[l], f, { atol: 0, name: `all ${l}` });
      assertAllClose(none[l], propagated[l], { atol: 0, name: `none ${l}` });
    });
    const [left, right] = [0, 2].map((x) => tf.slice(half[0], [0, 0, x, 0], [1, 4, 2, 3]));
    assertAllClose(left, tf.slice(own[0], [0, 0, 0, 0], [1, 4, 2, 3]), { atol: 0, name: 'recomputed half' });
    assertAllClose(right, tf.slice(propagated[0], [0, 0, 2, 0], [1, 4, 2, 3]), { atol: 0, name: 'propagated half' });
    tf.dispose([...own, ...propagated, quality, ...all, ...none, ...half, left, right]);
    unified.dispose();
  });

  it('schedules key frames at a fixed interval or by the quality map, and leaks no tensor', async () => {
    const detector = tinyDetector();
    const unified = new UnifiedVOD(detector, CONFIG);
    unified.eval();
    const { frames } = movingSquareClip(4);
    const fixed = await assertNoTensorLeak(() => unified.detectVideo(frames, SIZE, FIXED));
    expect(fixed.keyFrames).toEqual([true, false, true, false]);
    expect(fixed.detections.length).toBe(4);
    // gamma below any fraction: every frame is a key frame; above 1: none after the first.
    const everyFrame = unified.detectVideo(frames, SIZE, { ...FIXED, adaptive: true, gamma: -1 });
    expect(everyFrame.keyFrames).toEqual([true, true, true, true]);
    const never = unified.detectVideo(frames, SIZE, { ...FIXED, adaptive: true, gamma: 1, tau: -1e9 });
    expect(never.keyFrames).toEqual([true, false, false, false]);
    expect(never.updated).toEqual([0, 0, 0, 0]);
    // tau above every Q: non-key frames recompute everything, so they are the per-frame detector's.
    const recomputed = unified.detectVideo(frames, SIZE, { ...FIXED, keyInterval: 10, tau: 1e9 });
    expect(recomputed.updated).toEqual([0, 1, 1, 1]);
    const alone = detector.detect(frames[3], [SIZE])[0];
    expect(Array.from(recomputed.detections[3].scores)).toEqual(Array.from(alone.scores));
    tf.dispose(frames);
    unified.dispose();
  });

  it('trains aggregation, partial update and Q together with a flat tensor count', async () => {
    const unified = new UnifiedVOD(tinyDetector(), CONFIG);
    const optimizer = new AdamW([{ params: unified.trainableVariables() }], { lr: 1e-3, weightDecay: 0 });
    const { frames, targets } = movingSquareClip(3);
    const step = () =>
      optimizationStep(
        () => {
          const components = unified.loss(frames[2], frames[0], [SIZE], [targets[2]], 0.5);
          return { loss: tf.addN(Object.values(components)) as tf.Scalar, components };
        },
        unified.trainableVariables(),
        optimizer,
        10,
      );
    unified.train();
    const before = [unified.quality.weight, unified.embed.conv3.weight, unified.flownet.predictFlows[4].weight].map(
      (v) => v.dataSync().slice(),
    );
    step();
    const result = await assertNoTensorLeak(step);
    expect(Number.isFinite(result.loss)).toBe(true);
    expect(Object.keys(result.components).sort()).toEqual(
      [
        ...['aggregate', 'update'].flatMap((b) =>
          ['loss_objectness', 'loss_rpn_box_reg', 'loss_classifier', 'loss_box_reg'].map((n) => `${b}.${n}`),
        ),
        'loss_quality',
      ].sort(),
    );
    [unified.quality.weight, unified.embed.conv3.weight, unified.flownet.predictFlows[4].weight].forEach((v, i) =>
      expect(v.dataSync().some((x, j) => x !== before[i][j])).toBe(true),
    );
    tf.dispose(frames);
    optimizer.dispose();
    unified.dispose();
  });

  it('errors name the argument', () => {
    const unified = new UnifiedVOD(tinyDetector(), CONFIG);
    const { frames } = movingSquareClip(1);
    expect(() => unified.detectVideo(frames, SIZE, { ...FIXED, keyInterval: 0 })).toThrow(
      /UnifiedVOD.detectVideo.*inference.keyInterval/,
    );
    expect(() => unified.detectVideo(frames, SIZE, { ...FIXED, tau: NaN })).toThrow(
      /UnifiedVOD.detectVideo.*inference.tau/,
    );
    expect(() => unified.detectVideo([], SIZE, FIXED)).toThrow(/UnifiedVOD.detectVideo.*frames/);
    expect(() => new UnifiedVOD(tinyDetector(), { ...CONFIG, embedChannels: 0 })).toThrow(/UnifiedVOD.*embedChannels/);
    tf.dispose(frames);
    unified.dispose();
  });
});
