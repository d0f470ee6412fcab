import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { initBackend } from '@deformjs/core';
import { main } from '../src/main';
import { modelTensors, quiet, record } from './run_folder';

// Faster R-CNN through the shared trainer: the tiny preset with every DCNv2 addition (deformable convs, mdpool,
// feature mimicking) on two 48 px shapes images, batch 2, so one step per epoch and a checkpoint after each.
const dir = mkdtempSync(join(tmpdir(), 'deformjs-detect-rcnn-'));
const cache = join(dir, 'data');
const data = ['--cache', cache, '--size', '48', '--train-count', '2', '--val-count', '2', '--batch', '2'];
const model = ['--model', 'faster-rcnn', '--preset', 'tiny', '--variant', 'dcnv2-mdpool-mimic'];
const schedule = ['--checkpoint-every', '1', '--warmup', '1', '--lr-drop', '2'];
const fast = ['--backend', 'cpu', '--workers', '0', '--draw', '1'];
const train = (out: string, epochs: number, hooks = {}) =>
  main(['train', '--out', out, ...data, ...model, ...schedule, ...fast, '--epochs', String(epochs)], hooks);
const reference = join(dir, 'reference');
const resumed = join(dir, 'resumed');

describe('detect with Faster R-CNN (DCNv2 + mdpool + mimicking): train, resume, eval, detect', () => {
  // Timeouts: training on the cpu backend beside the session's trainings (load average 20) takes minutes.
  // Tensors alive after each checkpoint of the uninterrupted run: after steps 1, 2, 3 and after the evaluation.
  const tensorsAtCheckpoint: number[] = [];
  afterEach(() => vi.restoreAllMocks());
  beforeAll(async () => {
    quiet();
    await initBackend('cpu');
    const before = tf.memory().numTensors;
    const onWritePoint = (point: string) => {
      if (point === 'after-record-write') tensorsAtCheckpoint.push(tf.memory().numTensors);
    };
    expect(await train(reference, 3, { onWritePoint })).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
    vi.restoreAllMocks();
  }, 600_000);

  it('trains with finite losses by their torchvision names, and the tensor count stays flat over steps and evaluation', () => {
    const metrics = record(reference);
    expect(metrics.detector).toBe('faster-rcnn');
    expect(metrics.loss.map(([step]) => step)).toEqual([1, 2, 3]);
    expect(metrics.loss.every(([, loss]) => Number.isFinite(loss) && loss > 0)).toBe(true);
    expect(metrics.final?.stats).toHaveLength(12);
    expect(tensorsAtCheckpoint).toHaveLength(4);
    // AdamW creates a variable's moments at its first gradient, and one FPN level's mdpool gets its first RoIs
    // only at step 2: from then on nothing may grow, through steps, checkpoints and the evaluation.
    const [, second, ...later] = tensorsAtCheckpoint;
    expect(later).toEqual(later.map(() => second));
    const names = Object.keys(modelTensors(reference));
    for (const key of [
      'backbone.body.layer3.1.conv2.conv_offset.weight',
      'roi_heads.box_roi_pool.roi_layers.0.mask_fc.0.weight',
      'rcnn_cls_score.weight',
    ])
      expect(names).toContain(key);
  });

  it('stopped after two steps and resumed for a third, ends with the weights and losses of the uninterrupted run', async () => {
    quiet();
    expect(await train(resumed, 2)).toBe(0);
    expect(record(resumed).loss.map(([step]) => step)).toEqual([1, 2]);
    expect(await train(resumed, 3)).toBe(0);
    const metrics = record(resumed);
    expect(metrics.segments.map((s) => s.fromStep)).toEqual([0, 2]);
    expect(metrics.loss).toEqual(record(reference).loss);
    expect(modelTensors(resumed)).toEqual(modelTensors(reference));
  }, 600_000);

  it('eval scores the checkpoint, detect writes COCO results inside each image', async () => {
    const out: string[] = [];
    quiet();
    vi.spyOn(console, 'log').mockImplementation((text: string) => void out.push(String(text)));
    const checkpoint = join(reference, 'checkpoint.safetensors');
    expect(await main(['eval', '--checkpoint', checkpoint, ...data, ...fast])).toBe(0);
    expect(out.join('\n')).toContain('Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]');

    const images = join(cache, readdirSync(cache)[0], 'val');
    const detections = join(dir, 'detections');
    expect(await main(['detect', '--checkpoint', checkpoint, '--images', images, '--out', detections, ...fast])).toBe(
      0,
    );
    const results = JSON.parse(readFileSync(join(detections, 'results.json'), 'utf8')) as {
      image_id: number;
      bbox: number[];
      score: number;
    }[];
    const { images: listed } = JSON.parse(readFileSync(join(detections, 'images.json'), 'utf8')) as {
      images: { id: number; width: number; height: number }[];
    };
    expect(listed).toHaveLength(2);
    expect(results.length).toBeGreaterThan(0);
    for (const r of results) {
      const image = listed.find((i) => i.id === r.image_id)!;
      expect(r.score).toBeGreaterThan(0.05);
      expect(r.bbox[0] + r.bbox[2]).toBeLessThanOrEqual(image.width + 0.5);
      expect(r.bbox[1] + r.bbox[3]).toBeLessThanOrEqual(image.height + 0.5);
    }
  }, 600_000);
});
