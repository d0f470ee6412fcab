import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@deformjs/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { cocoPaths, loadCoco } from '../src/coco';
import { shapeCrops } from '../src/shapes/crops';
import { ensureShapesDataset } from '../src/shapes/generate';
import { tempDir } from './helpers';

beforeAll(async () => {
  await initBackend('cpu');
});

describe('shapeCrops', () => {
  it('cuts one normalised crop per non-crowd object of 8 px or more, labelled with its shape', async () => {
    const cacheDir = tempDir('crops');
    const options = { cacheDir, count: 4, imageSize: 64, size: 16 };
    const crops = await shapeCrops(options, 'train');
    // The objects the crops should come from, read independently from the same generated set.
    const root = await ensureShapesDataset('detection', cacheDir, { count: 4, size: 64, seed: 0 });
    const dataset = loadCoco({ ...cocoPaths(root, 'train'), crowd: 'drop' });
    const expected: number[] = [];
    for (const record of dataset.records) {
      record.labels.forEach((label, b) => {
        const [x0, y0, x1, y1] = record.boxes.slice(4 * b, 4 * b + 4);
        if (Math.max(x1 - x0, y1 - y0) >= 8) expected.push(label);
      });
    }
    expect(expected.length).toBeGreaterThan(0);
    expect(Array.from(crops.labels)).toEqual(expected);
    expect(crops.images.shape).toEqual([expected.length, 16, 16, 3]);
    const [low, high] = [tf.min(crops.images).dataSync()[0], tf.max(crops.images).dataSync()[0]];
    expect(low).toBeGreaterThanOrEqual(-0.5);
    expect(high).toBeLessThanOrEqual(0.5);
    // Every crop shows something brighter than the black padding: its object.
    const brightest = tf.max(crops.images, [1, 2, 3]).dataSync();
    brightest.forEach((v) => expect(v).toBeGreaterThan(-0.3));
    crops.images.dispose();
  });
});
