import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@deformjs/core';
import { assertAllClose, assertNoTensorLeak } from '@deformjs/core/testing';
import { AdamW, optimizationStep } from '@deformjs/nn';
import { DFF, FGFA, warpPyramid } from '../src/index';
import { movingSquareClip, tinyDetector } from './helpers';

const SIZE: [number, number] = [64, 64];
const FLOWNET = { width: 4, seed: 2 };

beforeAll(async () => {
  await initBackend('wasm');
});

describe('warpPyramid', () => {
  it('divides the flow by each level stride: a 8 px shift moves P2 by 2 and P3 by 1 position', () => {
    const p2 = tf.randomNormal([1, 16, 16, 3], 0, 1, 'float32', 1);
    const p3 = tf.randomNormal([1, 8, 8, 3], 0, 1, 'float32', 2);
    const flow = tf.tidy(() => tf.mul(tf.ones([1, 16, 16, 2]), tf.tensor1d([8, 0])));
    const [w2, w3] = warpPyramid([p2, p3], flow, SIZE);
    const shifted = (x: tf.Tensor, by: number, n: number) =>
      tf.pad(tf.slice(x, [0, 0, by, 0], [1, n, n - by, 3]), [
        [0, 0],
        [0, 0],
        [0, by],
        [0, 0],
      ]);
    assertAllClose(w2, shifted(p2, 2, 16), { atol: 1e-5, name: 'P2' });
    assertAllClose(w3, shifted(p3, 1, 8), { atol: 1e-5, name: 'P3' });
  });
});

describe('DFF around Faster R-CNN', () => {
  it('key frames are the per-frame detector; propagation starts as plain warping (scale 1)', () => {
    const detector = tinyDetector();
    const dff = new DFF(detector, { flownet: FLOWNET, seed: 3 });
    dff.eval();
    const { frames } = movingSquareClip(3);
    const video = dff.detectVideo(frames, SIZE, 2);
    expect(video.length).toBe(3);
    const alone = detector.detect(frames[2], [SIZE])[0];
    expect(Array.from(video[2].scores)).toEqual(Array.from(alone.scores));
    expect(Array.from(video[2].boxes)).toEqual(Array.from(alone.boxes));
    // Scale field: weight 0, bias 1, so the first propagated features are exactly the warped ones.
    const { features, paddedSize } = detector.features(frames[0]);
    const propagated = dff.propagate(features, paddedSize, frames[1], frames[0]);
    const { flow, features: flowFeatures, predictions } = dff.flownet.forward(frames[1], frames[0]);
    const warped = warpPyramid(features, flow, paddedSize);
    propagated.forEach((p, l) => assertAllClose(p, warped[l], { atol: 1e-6, name: `level ${l}` }));
    tf.dispose([...frames, ...features, ...propagated, flow, flowFeatures, ...predictions, ...warped]);
    dff.dispose();
  });

  it('trains end to end on (frame, key frame) pairs: flow net gets gradients, tensor count flat', async () => {
    const dff = new DFF(tinyDetector(), { flownet: FLOWNET, seed: 3 });
    const optimizer = new AdamW([{ params: dff.trainableVariables() }], { lr: 1e-3, weightDecay: 0 });
    const { frames, targets } = movingSquareClip(3);
    const step = () =>
      optimizationStep(
        () => {
          const components = dff.loss(frames[2], frames[0], [SIZE], [targets[2]]);
          return { loss: tf.addN(Object.values(components)) as tf.Scalar, components };
        },
        dff.trainableVariables(),
        optimizer,
        10,
      );
    dff.train();
    const before = dff.flownet.predictFlows[4].weight.dataSync().slice();
    step();
    const result = await assertNoTensorLeak(step);
    expect(Number.isFinite(result.loss)).toBe(true);
    expect(Object.keys(result.components)).toEqual([
      'loss_objectness',
      'loss_rpn_box_reg',
      'loss_classifier',
      'loss_box_reg',
    ]);
    const after = dff.flownet.predictFlows[4].weight.dataSync();
    expect(after.some((v, i) => v !== before[i])).toBe(true);
    tf.dispose(frames);
    optimizer.dispose();
    dff.dispose();
  });

  it('errors name the argument', () => {
    const dff = new DFF(tinyDetector(), { flownet: FLOWNET, seed: 3 });
    const { frames } = movingSquareClip(1);
    expect(() => dff.detectVideo(frames, SIZE, 0)).toThrow(/DFF.detectVideo.*keyInterval/);
    expect(() => dff.detectVideo([], SIZE, 2)).toThrow(/DFF.detectVideo.*frames/);
    tf.dispose(frames);
    dff.dispose();
  });
});

describe('FGFA around Faster R-CNN', () => {
  it('aggregation weights are a softmax over frames; identical frames give back the features', () => {
    const fgfa = new FGFA(tinyDetector(), { flownet: FLOWNET, embedChannels: 8, seed: 4 });
    const C = fgfa.detector.featureChannels;
    const own = [
      tf.randomNormal([1, 16, 16, C], 0, 1, 'float32', 5),
      tf.randomNormal([1, 8, 8, C], 0, 1, 'float32', 6),
    ];
    const other = own.map((f) => tf.mul(f, -1));
    const { features, weights } = fgfa.aggregate(own, [own, other]);
    weights.forEach((w, level) => {
      expect(w.shape[3]).toBe(3);
      assertAllClose(tf.sum(w, 3), tf.onesLike(tf.sum(w, 3)), { atol: 1e-5, name: 'weights sum' });
      // The frame and its identical copy share their weight; a different frame (similarity < 1) gets less.
      const [w0, w1, w2] = [0, 1, 2].map((j) => tf.slice(w, [0, 0, 0, j], [-1, -1, -1, 1]));
      assertAllClose(w1, w0, { atol: 1e-6, name: 'copy weight' });
      expect(tf.all(tf.less(w2, w0)).dataSync()[0]).toBe(1);
      assertAllClose(features[level], tf.add(tf.mul(tf.add(w0, w1), own[level]), tf.mul(w2, other[level])), {
        atol: 1e-5,
        name: 'weighted sum',
      });
    });
    const same = fgfa.aggregate(own, [own, own]);
    same.features.forEach((f, l) => assertAllClose(f, own[l], { atol: 1e-5, name: `level ${l}` }));
    same.weights.forEach((w) => assertAllClose(w, tf.fill(w.shape, 1 / 3), { atol: 1e-6, name: 'equal weights' }));
    tf.dispose([...own, ...other, ...features, ...weights, ...same.features, ...same.weights]);
    fgfa.dispose();
  });

  it('trains with sampled neighbours (tensor count flat) and detects every frame of a clip', async () => {
    const fgfa = new FGFA(tinyDetector(), { flownet: FLOWNET, embedChannels: 8, seed: 4 });
    const optimizer = new AdamW([{ params: fgfa.trainableVariables() }], { lr: 1e-3, weightDecay: 0 });
    const { frames, targets } = movingSquareClip(3);
    const step = () =>
      optimizationStep(
        () => {
          const components = fgfa.loss(frames[1], [frames[0], frames[2]], [SIZE], [targets[1]]);
          return { loss: tf.addN(Object.values(components)) as tf.Scalar, components };
        },
        fgfa.trainableVariables(),
        optimizer,
        10,
      );
    fgfa.train();
    step();
    const result = await assertNoTensorLeak(step);
    expect(Number.isFinite(result.loss)).toBe(true);
    fgfa.eval();
    const detections = await assertNoTensorLeak(() => fgfa.detectVideo(frames, SIZE, 1));
    expect(detections.length).toBe(3);
    expect(() => fgfa.detectVideo(frames, SIZE, -1)).toThrow(/FGFA.detectVideo.*radius/);
    tf.dispose(frames);
    optimizer.dispose();
    fgfa.dispose();
  });
});
