import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@deformjs/core';
import { assertNoTensorLeak } from '@deformjs/core/testing';
import { DEFAULT_TRACKER, TrackletConditionedDetector } from '../src/index';
import { movingSquareClip, tinyDetector } from './helpers';

// Starting wasm can take minutes on a loaded machine: more than the shared 120 s hook timeout.
beforeAll(async () => {
  await initBackend('wasm');
}, 600_000);

const HEAD = { level: 1, poolSize: 2, hidden: 8, dim: 4, seed: 0 };
const SIZE: [number, number] = [64, 64];

describe('TrackletConditionedDetector', () => {
  it('trains the detector and the embedding head together, leaving no tensor behind', () => {
    const model = new TrackletConditionedDetector(tinyDetector(), HEAD);
    const { frames, targets } = movingSquareClip(2);
    const objects = targets.map((t) => ({ boxes: t.boxes, trackIds: Int32Array.of(7) })) as [
      { boxes: Float32Array; trackIds: Int32Array },
      { boxes: Float32Array; trackIds: Int32Array },
    ];
    model.train();
    const lossOf = (o = objects) => {
      const losses = model.loss(frames[0], frames[1], [SIZE], [targets[1]], o, DEFAULT_TRACKER);
      return tf.addN(Object.values(losses)) as tf.Scalar;
    };
    const variables = model.trainableVariables();
    assertNoTensorLeak(() => {
      const { value, grads } = tf.variableGrads(lossOf, variables);
      // The association loss reaches the embedding head, the detector's loss the detector.
      const named = (prefix: string) => model.namedParameters().filter(([n]) => n.startsWith(prefix));
      expect(named('embedding.').length).toBeGreaterThan(0);
      expect(Object.keys(grads)).toEqual(expect.arrayContaining([model.embedding.fc1.weight.name]));
      expect(Object.keys(grads).length).toBeGreaterThan(named('embedding.').length);
      expect(Number.isFinite(value.dataSync()[0])).toBe(true);
      tf.dispose([value, ...Object.values(grads)]);
    });
    // The association term: the same object in both frames is a positive of the one tracklet.
    const losses = model.loss(frames[0], frames[1], [SIZE], [targets[1]], objects, DEFAULT_TRACKER);
    expect(losses.association.dataSync()[0]).toBeGreaterThan(0);
    // No object in the current frame: the association term is zero.
    const empty = { boxes: new Float32Array(0), trackIds: new Int32Array(0) };
    const none = model.loss(frames[0], frames[1], [SIZE], [targets[1]], [objects[0], empty], DEFAULT_TRACKER);
    expect(none.association.dataSync()[0]).toBe(0);
    tf.dispose([...Object.values(losses), ...Object.values(none), ...frames]);
    model.dispose();
  }, 600_000);

  it('tracks a video: one track id per reported box, unique within a frame; components timed; errors', () => {
    const model = new TrackletConditionedDetector(tinyDetector(), HEAD);
    model.eval();
    const { frames } = movingSquareClip(3);
    const components: string[] = [];
    // An untrained detector scores low: let every detection be born and reported so the tracker has work.
    const tracker = { birthScore: 0, outputScore: 0 };
    let video: ReturnType<typeof model.detectVideo> | undefined;
    assertNoTensorLeak(() => {
      video = model.detectVideo(frames, SIZE, tracker, (name, run) => {
        components.push(name);
        return run();
      });
    });
    expect(video!.detections.length).toBe(3);
    video!.detections.forEach((d, t) => {
      expect(video!.trackIds[t].length).toBe(d.scores.length);
      expect(d.boxes.length).toBe(4 * d.scores.length);
      expect(new Set(video!.trackIds[t]).size).toBe(d.scores.length);
    });
    expect(video!.detections[0].scores.length).toBeGreaterThan(0);
    expect([...new Set(components)].sort()).toEqual(['embed', 'features', 'task', 'track']);
    expect(() => model.detectVideo([], SIZE, tracker)).toThrow(/TrackletConditionedDetector.detectVideo.*frames/);
    expect(() => model.detectVideo(frames, SIZE, { momentum: 2 })).toThrow(/Tracker.*config.momentum/);
    tf.dispose(frames);
    model.dispose();
  }, 600_000);
});
