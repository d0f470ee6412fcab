// The demo's model and DCN view in Node: no leaked tensor per detection or pick, stage times that add up, and the
// sampling points' geometry (a position's top-layer points are its 3x3 dilated taps plus the layer's offsets).
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@deformjs/core';
import { assertNoTensorLeak } from '@deformjs/core/testing';
import { loadDemoDetector, seededCheckpoint, STAGES } from '../src/detection';
import { SamplingPointsView } from '../src/sampling_points';

beforeAll(() => initBackend('wasm'));

const image = { data: Uint8Array.from({ length: 96 * 80 * 3 }, (_, i) => (i * 37) % 256), width: 96, height: 80 };

describe('demo detection', () => {
  it('detects with timed stages that sum to the total, leaking no tensor', async () => {
    const demo = loadDemoDetector(seededCheckpoint(), 'seeded');
    try {
      demo.detect(image);
      const { detections, times } = await assertNoTensorLeak(() => demo.detect(image));
      expect(detections.scores.length).toBe(100);
      // Boxes come back in the image's own pixels (the model saw it resized to 128 px).
      expect(Math.max(...detections.boxes.filter((_, i) => i % 2 === 0))).toBeLessThanOrEqual(96 + 1e-3);
      const sum = STAGES.reduce((total, stage) => total + times[stage], 0);
      expect(sum).toBeCloseTo(times.total, 6);
      for (const stage of STAGES) expect(times[stage]).toBeGreaterThanOrEqual(0);
    } finally {
      demo.dispose();
    }
  });

  it('refuses bytes that are not a trainer checkpoint, naming the file', () => {
    expect(() => loadDemoDetector(new Uint8Array(64), 'junk.safetensors')).toThrow(/junk\.safetensors/);
  });
});

describe('SamplingPointsView', () => {
  it('gives 9 then 81 points; the top layer reads its dilated taps moved by its offsets; no leak', async () => {
    const view = new SamplingPointsView(0);
    const input = tf.randomNormal([1, 40, 44, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    try {
      await assertNoTensorLeak(() => view.setImage(input));
      const [top, bottom] = view.points(20, 17);
      expect([top.length, bottom.length]).toEqual([9, 81]);
      const { offset, mask } = tf.tidy(() =>
        view.layers[1].offsetAndMask(tf.relu(view.layers[0].forward(input)) as tf.Tensor4D),
      );
      const at = (t: tf.Tensor4D, c: number) => (t.arraySync() as number[][][][])[0][17][20][c];
      const dilation = 8;
      top.forEach((p, k) => {
        const [i, j] = [Math.floor(k / 3), k % 3];
        expect(p.y).toBeCloseTo(17 + (i - 1) * dilation + at(offset, 2 * k), 4);
        expect(p.x).toBeCloseTo(20 + (j - 1) * dilation + at(offset, 2 * k + 1), 4);
        expect(p.modulation).toBeCloseTo(at(mask, k), 5);
      });
      // Some offsets are far from zero (the branch is not upstream's zero init), so the view shows deformation.
      expect(top.some((p, k) => Math.abs(p.x - (20 + ((k % 3) - 1) * dilation)) > 0.5)).toBe(true);
      tf.dispose([offset, mask]);
    } finally {
      input.dispose();
      view.dispose();
    }
  });
});
