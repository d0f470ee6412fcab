import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@deformjs/core';
import { assertNoTensorLeak } from '@deformjs/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchToTensors, collate } from '../src/batch';
import { loadCoco, type CocoDataset } from '../src/coco';
import { DataLoader, type LoaderBatch } from '../src/loader';
import { generateDetection, type DetectionDatasetFiles } from '../src/shapes/detection';
import { generateSegmentation } from '../src/shapes/segmentation';
import { normalize, type TransformSpec } from '../src/transforms';
import { loadVoc } from '../src/voc';
import { tempDir, thrown } from './helpers';

const dir = tempDir('loader');
let files: DetectionDatasetFiles;
let ds: CocoDataset;
const loaders: DataLoader[] = [];
const transforms: TransformSpec[] = [
  { type: 'horizontalFlip' },
  { type: 'randomResize', sizes: [40, 48, 56], maxSize: 72 },
  { type: 'randomSizeCrop', minSize: 30, maxSize: 50 },
  { type: 'normalize' },
];

function makeLoader(
  options: Partial<ConstructorParameters<typeof DataLoader>[1]> = {},
  records = ds.records,
): DataLoader {
  const loader = new DataLoader(records, { batchSize: 3, transforms, seed: 9, workers: 2, ...options });
  loaders.push(loader);
  return loader;
}

async function take(
  loader: DataLoader,
  options: Parameters<DataLoader['batches']>[0],
  n: number,
): Promise<LoaderBatch[]> {
  const out: LoaderBatch[] = [];
  for await (const batch of loader.batches(options)) {
    out.push(batch);
    if (out.length === n) break;
  }
  return out;
}

/** What identifies a batch's content: positions, ids, sizes, boxes and a pixel checksum. */
function fingerprint(b: LoaderBatch) {
  let sum = 0;
  for (let i = 0; i < b.images.length; i += 7) sum += b.images[i];
  return {
    epoch: b.epoch,
    step: b.step,
    indices: b.indices,
    ids: b.targets.map((t) => t.id),
    shape: [b.height, b.width],
    boxes: b.targets.map((t) => Array.from(t.boxes)),
    sum,
  };
}

beforeAll(async () => {
  await initBackend('cpu');
  files = await generateDetection({ out: join(dir, 'shapes'), seed: 2, count: 10, valCount: 2, size: 64 });
  ds = loadCoco(files.train);
});

afterAll(async () => {
  await Promise.all(loaders.map((l) => l.close()));
});

describe('collate', () => {
  it('pads to the largest image with a mask of valid pixels and DETR boxes', async () => {
    const samples = await Promise.all([0, 1, 2].map(async (i) => normalize(await ds.get(i))));
    const batch = collate(samples);
    expect(batch.height).toBe(Math.max(...samples.map((s) => s.height)));
    expect(batch.width).toBe(Math.max(...samples.map((s) => s.width)));
    samples.forEach((s, b) => {
      for (let y = 0; y < batch.height; y++) {
        for (let x = 0; x < batch.width; x++) {
          const p = (b * batch.height + y) * batch.width + x;
          const valid = y < s.height && x < s.width;
          expect(batch.pixelMask[p]).toBe(valid ? 1 : 0);
          const px = batch.images.subarray(3 * p, 3 * p + 3);
          if (valid)
            expect(Array.from(px)).toEqual(
              Array.from(s.image.subarray(3 * (y * s.width + x), 3 * (y * s.width + x) + 3)),
            );
          else expect(Array.from(px)).toEqual([0, 0, 0]);
        }
      }
      const t = batch.targets[b];
      expect(t.size).toEqual([s.height, s.width]);
      for (let k = 0; k < s.labels.length; k++) {
        const [x0, y0, x1, y1] = s.boxes.subarray(4 * k, 4 * k + 4);
        const expected = [(x0 + x1) / 2 / s.width, (y0 + y1) / 2 / s.height, (x1 - x0) / s.width, (y1 - y0) / s.height];
        expected.forEach((v, j) => expect(t.boxes[4 * k + j]).toBeCloseTo(v, 6));
        expect(Array.from(t.boxesXyxy.subarray(4 * k, 4 * k + 4))).toEqual([x0, y0, x1, y1]);
      }
    });
    expect(() => collate([samples[0], { ...samples[1], image: new Uint8Array(samples[1].image.length) }])).toThrow(
      /collate: argument 'samples\[1\]\.image' expected float32 pixels/,
    );
  });

  it('pads label maps with 255 and makes tensors without leaking', async () => {
    const voc = await generateSegmentation({ out: join(dir, 'voc'), seed: 1, count: 3, valCount: 1, size: 48 });
    const seg = loadVoc({ root: voc.root, split: 'train', task: 'segmentation', classes: voc.classes });
    const samples = await Promise.all([0, 1, 2].map(async (i) => normalize(await seg.get(i))));
    const batch = collate(samples);
    samples.forEach((s, b) => {
      expect(batch.segmentation![(b * batch.height + s.height - 1) * batch.width + s.width - 1]).toBe(
        s.segmentation![s.height * s.width - 1],
      );
      if (s.width < batch.width) expect(batch.segmentation![b * batch.height * batch.width + s.width]).toBe(255);
    });
    const tensors = await assertNoTensorLeak(() => batchToTensors(batch));
    expect(tensors.images.shape).toEqual([3, batch.height, batch.width, 3]);
    expect(tensors.pixelMask.shape).toEqual([3, batch.height, batch.width]);
    expect(tensors.segmentation!.dtype).toBe('int32');
    expect(Array.from(await tensors.pixelMask.data())).toEqual(Array.from(batch.pixelMask));
    tf.dispose([tensors.images, tensors.pixelMask, tensors.segmentation!]);
  });
});

describe('DataLoader', () => {
  it('visits every record once per epoch, in an order fixed by the seed', async () => {
    const loader = makeLoader();
    expect(loader.stepsPerEpoch).toBe(4);
    const epoch0 = await take(loader, { untilEpoch: 1 }, 100);
    expect(epoch0.map((b) => b.step)).toEqual([0, 1, 2, 3]);
    expect(epoch0.flatMap((b) => b.indices).sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(epoch0[3].batchSize).toBe(1);
    expect(loader.order(0)).toEqual(makeLoader().order(0));
    expect(loader.order(1)).not.toEqual(loader.order(0));
    expect(makeLoader({ seed: 10 }).order(0)).not.toEqual(loader.order(0));
    expect(makeLoader({ shuffle: false }).order(3)).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(makeLoader({ dropLast: true }).stepsPerEpoch).toBe(3);
  });

  it('gives the same batches whatever the number of workers, and resumes from (epoch, step)', async () => {
    const inline = (await take(makeLoader({ workers: 0 }), {}, 7)).map(fingerprint);
    const threaded = (await take(makeLoader({ workers: 2, prefetch: 3 }), {}, 7)).map(fingerprint);
    expect(threaded).toEqual(inline);
    expect(inline.map((b) => [b.epoch, b.step])).toEqual([
      [0, 0],
      [0, 1],
      [0, 2],
      [0, 3],
      [1, 0],
      [1, 1],
      [1, 2],
    ]);
    const resumed = (await take(makeLoader({ workers: 1 }), { epoch: 0, step: 3 }, 4)).map(fingerprint);
    expect(resumed).toEqual(inline.slice(3, 7));
    // After the last step of an epoch, step = stepsPerEpoch resumes at the next epoch's start.
    const rolled = (await take(makeLoader({ workers: 0 }), { epoch: 0, step: 4 }, 2)).map(fingerprint);
    expect(rolled).toEqual(inline.slice(4, 6));
    // Different epochs augment the same record differently.
    const index = inline[0].indices[0];
    const later = inline.slice(4).find((b) => b.indices.includes(index))!;
    expect(later.boxes[later.indices.indexOf(index)]).not.toEqual(inline[0].boxes[0]);
  });

  it('reports a broken file from a worker with its name and record, at its batch', async () => {
    const annotationFile = join(dir, 'one-bad.json');
    const json = JSON.parse(readFileSync(files.train.annotationFile, 'utf8'));
    writeFileSync(annotationFile, JSON.stringify(json));
    const broken = loadCoco({ annotationFile, imageDir: files.train.imageDir }).records.map((r, i) =>
      i === 4 ? { ...r, imagePath: join(dir, 'gone.jpg') } : r,
    );
    const loader = makeLoader({ shuffle: false, workers: 2 }, broken);
    const seen: number[] = [];
    const error = await thrown(async () => {
      for await (const batch of loader.batches({ untilEpoch: 1 })) seen.push(batch.step);
    });
    expect(seen).toEqual([0]);
    expect(error.name).toBe('DatasetFormatError');
    expect(error.message).toMatch(/gone\.jpg: image 5: cannot read the image \(ENOENT\)/);
  });

  it('replaces a worker that dies and retries its tasks elsewhere: the batches come out unchanged', async () => {
    const expected = (await take(makeLoader({ workers: 0 }), {}, 5)).map(fingerprint);
    const loader = makeLoader({ workers: 2, prefetch: 3 });
    const pool = () => (loader as unknown as { pool: { workers: Worker[] } }).pool;
    const seen: LoaderBatch[] = [];
    for await (const batch of loader.batches()) {
      seen.push(batch);
      // Kill a worker while later batches are in flight on it (terminate is what a native crash looks like).
      if (seen.length === 1) await pool().workers[0].terminate();
      if (seen.length === 5) break;
    }
    expect(seen.map(fingerprint)).toEqual(expected);
    expect(pool().workers).toHaveLength(2);
  });

  it('carries masks and label maps through the workers, and restarts after close', async () => {
    const withMasks = makeLoader({ masks: true, workers: 1 });
    const [batch] = await take(withMasks, {}, 1);
    batch.targets.forEach((t) => {
      const [h, w] = t.size;
      expect(t.masks!.length).toBe(t.labels.length * h * w);
      for (let k = 0; k < t.labels.length; k++)
        expect(t.masks!.subarray(k * h * w, (k + 1) * h * w).some((v) => v === 1)).toBe(true);
    });
    await withMasks.close();
    expect((await take(withMasks, {}, 1)).map(fingerprint)).toEqual([fingerprint(batch)]);

    const voc = await generateSegmentation({ out: join(dir, 'voc-loader'), seed: 4, count: 5, valCount: 1, size: 48 });
    const seg = loadVoc({ root: voc.root, split: 'train', task: 'segmentation', classes: voc.classes });
    const segLoader = makeLoader(
      {
        transforms: [
          { type: 'randomResize', sizes: [40, 48] },
          { type: 'randomCrop', height: 44, width: 44 },
          { type: 'normalize' },
        ],
        batchSize: 2,
      },
      seg.records,
    );
    for await (const b of segLoader.batches({ untilEpoch: 1 })) {
      expect([b.height, b.width]).toEqual([44, 44]);
      expect(b.pixelMask.every((v) => v === 1)).toBe(true);
      expect([...new Set(b.segmentation)].every((v) => v <= 5 || v === 255)).toBe(true);
    }
  });

  it('validates its options', async () => {
    expect(() => new DataLoader(ds.records, { batchSize: 0, transforms, seed: 1 })).toThrow(
      /DataLoader: argument 'batchSize' expected an integer >= 1, got 0/,
    );
    expect(
      () => new DataLoader(ds.records, { batchSize: 2, transforms: [{ type: 'horizontalFlip' }], seed: 1 }),
    ).toThrow(/'transforms' expected a pipeline ending with \{ type: 'normalize' \}/);
    expect(() => new DataLoader(ds.records, { batchSize: 20, transforms, seed: 1, dropLast: true })).toThrow(
      /'batchSize' expected at most the 10 records when dropLast is set/,
    );
    await expect(makeLoader().batches({ step: 5 }).next()).rejects.toThrow(
      /DataLoader\.batches: argument 'step' expected an integer >= 0 and <= 4, got 5/,
    );
  });
});
