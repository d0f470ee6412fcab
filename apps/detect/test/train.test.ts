import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { readSafetensors } from '@deformjs/weights';
import { RunFolder } from '@deformjs/weights/node';
import { loadDetector } from '../src/checkpoint';
import { main } from '../src/main';
import { modelTensors, quiet, record } from './run_folder';
import type { WritePoint } from '../src/train';

// A tiny detector on a tiny shapes world: 4 training images of 48 px, batch 2, 2 epochs = 4 steps, a
// checkpoint after every step. Small enough that training, four killed runs and their resumes stay fast.
const dir = mkdtempSync(join(tmpdir(), 'deformjs-detect-'));
const cache = join(dir, 'data');
const common = ['--cache', cache, '--size', '48', '--train-count', '4', '--val-count', '2', '--batch', '2'];
const run = [...common, '--preset', 'tiny', '--epochs', '2', '--checkpoint-every', '1', '--warmup', '2'];
const fast = ['--backend', 'cpu', '--workers', '0', '--draw', '1'];
const reference = join(dir, 'reference');
const testDir = fileURLToPath(new URL('.', import.meta.url));

describe('detect train, resume, eval and detect on a tiny shapes set', () => {
  afterEach(() => vi.restoreAllMocks());
  beforeAll(async () => {
    quiet();
    expect(await main(['train', '--out', reference, ...run, ...fast])).toBe(0);
    vi.restoreAllMocks();
  });

  it('records every step once, with the options of the run, and writes the checkpoint, plot and drawing', () => {
    const metrics = record(reference);
    expect(metrics.loss.map(([step]) => step)).toEqual([1, 2, 3, 4]);
    expect(metrics.loss.every(([, loss]) => Number.isFinite(loss))).toBe(true);
    expect(metrics.segments).toEqual([{ fromStep: 0, options: expect.objectContaining({ epochs: 2, batchSize: 2 }) }]);
    expect(metrics.final?.stats).toHaveLength(12);
    expect(metrics.cpuSecondsTraining).toBeGreaterThan(0);
    expect(readdirSync(reference).sort()).toEqual([
      'checkpoint.safetensors',
      'detections-1.png',
      'loss.svg',
      'metrics.json',
    ]);
  });

  it.each<[WritePoint, number]>([
    ['before-temp-write', 1],
    ['after-temp-write', 1],
    ['after-rename', 2],
    ['after-record-write', 2],
  ])(
    'killed at %s of the second checkpoint, resumes at step %i and ends as the uninterrupted run',
    async (point, resumeStep) => {
      const out = join(dir, `killed-${point}`);
      const child = spawnSync(
        process.execPath,
        ['--import', 'tsx', 'fault_child.ts', point, '2', 'train', '--out', out, ...run, ...fast],
        {
          cwd: testDir,
          encoding: 'utf8',
        },
      );
      expect(child.signal, child.stderr).toBe('SIGKILL');
      expect(existsSync(join(out, '.lock'))).toBe(true); // left behind by the kill: stale, must not block
      if (point === 'after-temp-write') expect(readdirSync(out).some((name) => name.endsWith('.tmp'))).toBe(true);

      quiet();
      expect(await main(['train', '--out', out, ...run, ...fast])).toBe(0);
      const metrics = record(out);
      expect(metrics.loss.map(([step]) => step)).toEqual([1, 2, 3, 4]);
      expect(metrics.segments.map((s) => s.fromStep)).toEqual([0, resumeStep]);
      expect(readdirSync(out).filter((name) => name.startsWith('.'))).toEqual([]);
      expect(metrics.loss).toEqual(record(reference).loss);
      expect(modelTensors(out)).toEqual(modelTensors(reference));
    },
  );

  it('a second trainer on a locked --out, and a resume on other data, are refused saying why', async () => {
    const err = quiet();
    const held = RunFolder.open(reference, { program: 'test', owns: () => true });
    try {
      expect(await main(['train', '--out', reference, ...run, ...fast])).toBe(1);
    } finally {
      held.release();
    }
    expect(err.join('\n')).toMatch(/in use by another trainer \(pid \d+\)/);
    expect(await main(['train', '--out', reference, ...run, ...fast, '--data-seed', '7'])).toBe(1);
    expect(err.join('\n')).toContain('data.shapes.dataSeed: 0 in the checkpoint, 7 now');
    expect(await main(['train', '--out', reference, ...run, ...fast, '--model', 'detr'])).toBe(1);
    expect(err.join('\n')).toContain('detector: "deformable-detr" in the checkpoint, "detr" now');
  });

  it('reports a diverging loss as such', async () => {
    const err = quiet();
    const out = join(dir, 'diverged');
    expect(await main(['train', '--out', out, ...run, ...fast, '--lr', '1e30', '--clip', '0'])).toBe(1);
    expect(err.join('\n')).toMatch(/training diverged at step \d+ \(loss (NaN|Infinity)\)/);
  });

  it('pretrain-backbone writes a backbone that train --backbone-weights loads, and one of another width is refused', async () => {
    const err = quiet();
    const backbone = join(dir, 'backbone.safetensors');
    const pretrain = ['pretrain-backbone', '--out', backbone, ...common, '--preset', 'tiny', '--steps', '2', ...fast];
    expect(await main(pretrain)).toBe(0);
    const { tensors, metadata } = readSafetensors(new Uint8Array(readFileSync(backbone)));
    expect(Object.keys(tensors)).toContain('layer4.1.bn2.running_var');
    expect(Object.keys(tensors).some((k) => k.startsWith('head') || k.endsWith('num_batches_tracked'))).toBe(false);
    const saved = JSON.parse(metadata['deformjs.backbone']);
    expect(saved.backbone).toEqual({ depth: 18, width: 4 });
    // What the cell classifiers say about the validation objects: shares, and no box classifier without --box-loss.
    expect(saved.accuracy.small.objects + saved.accuracy.larger.objects).toBeGreaterThan(0);
    for (const share of [saved.accuracy.small.right.C3, saved.accuracy.larger.shape.C5]) {
      expect(share).toBeGreaterThanOrEqual(0);
      expect(share).toBeLessThanOrEqual(1);
    }
    expect(saved.accuracy.small.box).toBeUndefined();

    const boxed = join(dir, 'backbone-box.safetensors');
    expect(await main([...pretrain.slice(0, 2), boxed, ...pretrain.slice(3), '--box-loss', '1'])).toBe(0);
    const withBoxes = readSafetensors(new Uint8Array(readFileSync(boxed)));
    expect(Object.keys(withBoxes.tensors).sort()).toEqual(Object.keys(tensors).sort());
    const boxShares = JSON.parse(withBoxes.metadata['deformjs.backbone']).accuracy;
    expect(boxShares.small.box ?? boxShares.larger.box).toBeGreaterThanOrEqual(0);

    const out = join(dir, 'pretrained');
    expect(await main(['train', '--out', out, ...run, ...fast, '--epochs', '1', '--backbone-weights', backbone])).toBe(
      0,
    );
    expect(record(out).segments[0].options.backboneWeights).toBe(backbone);
    // Frozen batch norm's statistics are never trained: the checkpoint still holds the file's.
    expect(modelTensors(out)['backbone.0.body.bn1.running_var']).toEqual(
      Array.from(tensors['bn1.running_var'].values as Float32Array),
    );
    const wider = ['train', '--out', join(dir, 'wider'), ...run, ...fast, '--set', 'backbone.width=8'];
    expect(await main([...wider, '--backbone-weights', backbone])).toBe(1);
    expect(err.join('\n')).toContain("a ResNet-18 of width 4, the detector's is ResNet-18 of width 8");
  });

  it('eval scores the checkpoint on the validation split', async () => {
    const out: string[] = [];
    quiet();
    vi.spyOn(console, 'log').mockImplementation((text: string) => void out.push(String(text)));
    const code = await main(['eval', '--checkpoint', join(reference, 'checkpoint.safetensors'), ...common, ...fast]);
    expect(code).toBe(0);
    expect(out.join('\n')).toContain('Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]');
  });

  it('detect runs on a folder of images of any size and writes COCO results and drawings', async () => {
    const images = join(dir, 'my-images');
    cpSync(join(cache, readdirSync(cache)[0], 'val'), images, { recursive: true });
    const [first, second] = readdirSync(images).sort();
    // A PNG of another size than the training images.
    const { decodeImage, encodeImage, resizeImage } = await import('@deformjs/datasets');
    const image = await decodeImage(join(images, second));
    const big = resizeImage(image.data, image.width, image.height, 3, 100, 70);
    writeFileSync(join(images, 'wide.png'), await encodeImage({ data: big, width: 100, height: 70 }, 'png'));
    const out = join(dir, 'detections');
    quiet();
    const checkpoint = join(reference, 'checkpoint.safetensors');
    expect(
      await main(['detect', '--checkpoint', checkpoint, '--images', images, '--out', out, ...fast, '--draw', '3']),
    ).toBe(0);
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as {
      image_id: number;
      category_id: number;
      bbox: number[];
      score: number;
    }[];
    const { images: listed, categories } = JSON.parse(readFileSync(join(out, 'images.json'), 'utf8')) as {
      images: { id: number; file_name: string; width: number; height: number }[];
      categories: { id: number; name: string }[];
    };
    expect(listed.map((i) => i.file_name)).toEqual([first, second, 'wide.png']);
    expect(listed[2]).toMatchObject({ width: 100, height: 70 });
    expect(categories).toHaveLength(5);
    expect(new Set(results.map((r) => r.image_id))).toEqual(new Set([1, 2, 3]));
    const wide = results.filter((r) => r.image_id === 3);
    expect(wide.every((r) => r.bbox[0] + r.bbox[2] <= 100.5 && r.bbox[1] + r.bbox[3] <= 70.5)).toBe(true);
    expect(readdirSync(out).sort()).toEqual([
      `detections-${first}.png`,
      `detections-${second}.png`,
      'detections-wide.png.png',
      'images.json',
      'results.json',
    ]);
  });

  it('detect refuses an --out holding other files, the images folder itself, and a checkpoint of another model', async () => {
    const err = quiet();
    const checkpoint = join(reference, 'checkpoint.safetensors');
    const images = join(dir, 'my-images');
    expect(await main(['detect', '--checkpoint', checkpoint, '--images', images, '--out', images, ...fast])).toBe(1);
    expect(err.join('\n')).toContain('--out must differ from --images');
    const mine = join(dir, 'my-notes');
    cpSync(join(images, 'wide.png'), join(mine, 'holiday.png'));
    expect(await main(['detect', '--checkpoint', checkpoint, '--images', images, '--out', mine, ...fast])).toBe(1);
    expect(err.join('\n')).toContain('holiday.png');
    expect(readdirSync(mine)).toEqual(['holiday.png']);
    const asDetr = ['detect', '--checkpoint', checkpoint, '--images', images, '--model', 'detr', ...fast];
    expect(await main(asDetr)).toBe(1);
    expect(err.join('\n')).toContain('holds a Deformable DETR (deformable-detr), not the detr asked for');
    expect(() => loadDetector(checkpoint, { numClasses: 3 })).toThrow(
      'detects 5 classes (circle, square, triangle, star, cross), but the data has 3',
    );
  });
});
