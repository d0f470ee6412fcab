import { type Rng } from '@deformjs/core';
import * as tf from '@tensorflow/tfjs-core';
import { FASTER_RCNN_SMALL, type FasterRcnnConfig, type FasterRcnnBatch } from '../src/index';

/** A tiny model: R18 at width 8, FPN 16, few proposals and RoIs. */
export function tinyConfig(overrides: Partial<FasterRcnnConfig> = {}): FasterRcnnConfig {
  return {
    ...FASTER_RCNN_SMALL,
    backbone: { depth: 18, width: 8, norm: 'batch' },
    fpnChannels: 16,
    numClasses: 2,
    rpn: {
      ...FASTER_RCNN_SMALL.rpn,
      preNmsTopNTrain: 100,
      postNmsTopNTrain: 40,
      preNmsTopNTest: 50,
      postNmsTopNTest: 20,
      batchSizePerImage: 64,
    },
    roi: { ...FASTER_RCNN_SMALL.roi, batchSizePerImage: 32, representationSize: 32, deformFcChannels: 16 },
    seed: 1,
    ...overrides,
  };
}

/** Two images with filled rectangles, class = colour (red 0, green 1); the second's valid region is smaller. */
export function toyBatch(rng: Rng, size = 64): FasterRcnnBatch {
  const n = 2;
  const pixels = new Float32Array(n * size * size * 3).fill(-1);
  const imageSizes: [number, number][] = [];
  const targets = [];
  for (let b = 0; b < n; b++) {
    const valid = b === 0 ? size : size - 16;
    imageSizes.push([valid, valid]);
    const boxes: number[] = [];
    const labels: number[] = [];
    for (let k = 0; k < 1 + rng.int(2); k++) {
      const w = 10 + rng.int(20);
      const h = 10 + rng.int(20);
      const x0 = rng.int(valid - w);
      const y0 = rng.int(valid - h);
      const label = rng.int(2);
      for (let y = y0; y < y0 + h; y++)
        for (let x = x0; x < x0 + w; x++)
          pixels.set(label === 0 ? [2, -1, -1] : [-1, 2, -1], ((b * size + y) * size + x) * 3);
      boxes.push(x0, y0, x0 + w, y0 + h);
      labels.push(label);
    }
    targets.push({ boxes: Float32Array.from(boxes), labels: Int32Array.from(labels) });
  }
  return { images: tf.tensor4d(pixels, [n, size, size, 3]), imageSizes, targets };
}
