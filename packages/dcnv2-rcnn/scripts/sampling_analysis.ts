/**
 * DCNv2's analysis in miniature on a trained ablation run (a checkpoint of apps/detect), plus its inference speed.
 *
 * For every validation object and every feature cell whose centre lies inside the object's mask (the cell under
 * the box centre when none does), the last deformable 3x3 conv of conv3, conv4 and conv5 samples 9 points (the
 * regular grid moved by its conv_offset). Each point weighs its modulation (v2) or 1 (v1); the share of the weight
 * whose point lands inside the object's mask is averaged over the cells of an object, then over objects. The same
 * share for the regular grid (no offsets) is the baseline. Inference: `detect` on the validation split (one wasm
 * thread, after one untimed warm-up batch), images per second, with the detections per image and each image's top
 * score. And the loss terms the trained model has on the first training batches. Writes `<run>/analysis.json`. Usage (the data flags of the run):
 *   npx tsx scripts/sampling_analysis.ts --run runs/ablation/dcnv2-c3c5-s0 --size 64 --train-count 100 --val-count 80
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@deformjs/core';
import { writeFileAtomic } from '@deformjs/core/node';
import { DataLoader, cocoPaths, ensureShapesDataset, loadCoco, type Batch, type ImageRecord } from '@deformjs/datasets';
import { DeformConv2d, ModulatedDeformConv2d } from '@deformjs/dcn';
import { decodeCheckpoint, readCheckpointInfo } from '@deformjs/weights';
import { FasterRCNN, validateFasterRcnnConfig, type FasterRcnnConfig } from '../src/index';
import { ResNet } from '@deformjs/nn';
import { DATA_OPTIONS } from './shapes_run';

const { values } = parseArgs({ options: { run: { type: 'string' }, ...DATA_OPTIONS } });

const LOSS_BATCHES = 10;

const STAGES = [
  { name: 'C3', layer: 1, stride: 8 },
  { name: 'C4', layer: 2, stride: 16 },
  { name: 'C5', layer: 3, stride: 32 },
] as const;

interface Share {
  deformable: number[];
  grid: number[];
}

/** The offsets (and modulation logits for v2) of each stage's last deformable 3x3 conv on `images`, NHWC. */
function samplingOffsets(model: FasterRCNN, images: tf.Tensor4D): { data: Float32Array; shape: number[] }[] {
  const captured: { data: Float32Array; shape: number[] }[] = [];
  const restore: (() => void)[] = [];
  const body = model.backbone.body;
  if (!(body instanceof ResNet)) throw new Error('the sampling analysis needs a ResNet backbone with deformable convs');
  for (const stage of STAGES) {
    const blocks = body.stages[stage.layer].blocks;
    const conv = blocks[blocks.length - 1].conv2;
    if (!(conv instanceof DeformConv2d || conv instanceof ModulatedDeformConv2d))
      throw new Error(`${stage.name}: the last block's conv2 is not deformable`);
    const offsetConv = conv.convOffset;
    const forward = offsetConv.forward.bind(offsetConv);
    offsetConv.forward = (x) => {
      const out = forward(x);
      captured[STAGES.indexOf(stage)] = { data: out.dataSync() as Float32Array, shape: out.shape };
      return out;
    };
    restore.push(() => {
      offsetConv.forward = forward;
    });
  }
  try {
    tf.dispose(model.backbone.forward(images));
  } finally {
    restore.forEach((r) => r());
  }
  return captured;
}

/** Adds each object's in-mask share at each stage to `shares`. */
function measure(model: FasterRCNN, batch: Batch, images: tf.Tensor4D, shares: Share[]): void {
  const modulated = model.config.dcn.version === 2;
  const offsets = samplingOffsets(model, images);
  STAGES.forEach(({ stride }, s) => {
    const { data, shape } = offsets[s];
    const [, h, w, channels] = shape;
    batch.targets.forEach((t, b) => {
      const [height, width] = t.size;
      const masks = t.masks!;
      // Feature coordinate f covers image pixels around (f + 0.5) * stride.
      const inside = (o: number, fy: number, fx: number) => {
        const px = Math.floor((fx + 0.5) * stride);
        const py = Math.floor((fy + 0.5) * stride);
        if (px < 0 || py < 0 || px >= width || py >= height) return 0;
        return masks[(o * height + py) * width + px];
      };
      for (let o = 0; o < t.labels.length; o++) {
        if (t.iscrowd[o]) continue;
        const cells: [number, number][] = [];
        for (let cy = 0; cy < h; cy++) for (let cx = 0; cx < w; cx++) if (inside(o, cy, cx)) cells.push([cy, cx]);
        if (cells.length === 0) {
          const [x1, y1, x2, y2] = t.boxesXyxy.subarray(4 * o, 4 * o + 4);
          cells.push([
            Math.min(Math.floor((y1 + y2) / 2 / stride), h - 1),
            Math.min(Math.floor((x1 + x2) / 2 / stride), w - 1),
          ]);
        }
        let deformable = 0;
        let grid = 0;
        for (const [cy, cx] of cells) {
          const base = ((b * h + cy) * w + cx) * channels;
          let weighted = 0;
          let total = 0;
          let gridInside = 0;
          for (let k = 0; k < 9; k++) {
            const gy = cy + Math.floor(k / 3) - 1;
            const gx = cx + (k % 3) - 1;
            // mmcv's layout: offsets (dy, dx) per kernel point, then (v2) the 9 modulation logits.
            const weight = modulated ? 1 / (1 + Math.exp(-data[base + 18 + k])) : 1;
            weighted += weight * inside(o, gy + data[base + 2 * k], gx + data[base + 2 * k + 1]);
            total += weight;
            gridInside += inside(o, gy, gx);
          }
          deformable += weighted / total;
          grid += gridInside / 9;
        }
        shares[s].deformable.push(deformable / cells.length);
        shares[s].grid.push(grid / cells.length);
      }
    });
  });
}

/**
 * The trained model's loss terms (torchvision's names, plus the mimicking terms) in training mode on the first
 * LOSS_BATCHES training batches, in order and without augmentation: which terms a row ends training with.
 */
async function trainingLossTerms(model: FasterRCNN, records: ImageRecord[]): Promise<Record<string, number>> {
  const loader = new DataLoader(records, {
    batchSize: Number(values.batch),
    transforms: [{ type: 'normalize' }],
    seed: 0,
    shuffle: false,
    workers: 1,
  });
  const sums: Record<string, number> = {};
  let batches = 0;
  model.train();
  for await (const batch of loader.batches({ untilEpoch: 1 })) {
    if (batches === LOSS_BATCHES) break;
    const terms = tf.tidy(() =>
      model.loss(
        tf.tensor4d(batch.images, [batch.batchSize, batch.height, batch.width, 3]),
        batch.targets.map((t) => t.size),
        batch.targets.map((t) => ({ boxes: t.boxesXyxy, labels: t.labels, iscrowd: t.iscrowd })),
      ),
    );
    for (const [name, value] of Object.entries(terms)) sums[name] = (sums[name] ?? 0) + value.dataSync()[0];
    tf.dispose(Object.values(terms));
    batches += 1;
  }
  await loader.close();
  model.eval();
  return Object.fromEntries(Object.entries(sums).map(([name, sum]) => [name, sum / batches]));
}

async function main() {
  if (!values.run) throw new Error('--run: the run folder (holding checkpoint.safetensors) is required');
  await initBackend('wasm');
  const path = join(values.run, 'checkpoint.safetensors');
  const bytes = new Uint8Array(readFileSync(path));
  const saved = readCheckpointInfo(bytes, path).config as { detector: string; config: FasterRcnnConfig } | null;
  if (saved?.detector !== 'faster-rcnn') throw new Error(`${path}: not a Faster R-CNN checkpoint of apps/detect`);
  const model = new FasterRCNN(validateFasterRcnnConfig(saved.config));
  decodeCheckpoint(bytes, { model }, path);
  model.eval();

  const root = await ensureShapesDataset('detection', values.cache!, {
    seed: Number(values['data-seed']),
    count: Number(values['train-count']),
    valCount: Number(values['val-count']),
    size: Number(values.size),
  });
  const val = loadCoco(cocoPaths(root, 'val'));
  const deformable = model.config.dcn.stages !== 'none';
  const loader = new DataLoader(val.records, {
    batchSize: Number(values.batch),
    transforms: [{ type: 'normalize' }],
    seed: 0,
    shuffle: false,
    workers: 1,
    masks: deformable,
  });
  const shares: Share[] = STAGES.map(() => ({ deformable: [], grid: [] }));
  const loadBefore = readFileSync('/proc/loadavg', 'utf8').trim();
  let inferSeconds = 0;
  let detectionCount = 0;
  const topScores: number[] = [];
  let images = 0;
  for await (const batch of loader.batches({ untilEpoch: 1 })) {
    const x = tf.tensor4d(batch.images, [batch.batchSize, batch.height, batch.width, 3]);
    const sizes = batch.targets.map((t) => t.size);
    // The first call also compiles and allocates (wasm kernels, memory growth): warm up untimed.
    if (images === 0) model.detect(x, sizes);
    const t0 = performance.now();
    const detections = model.detect(x, sizes);
    inferSeconds += (performance.now() - t0) / 1000;
    for (const d of detections) {
      detectionCount += d.scores.length;
      topScores.push(d.scores.length > 0 ? Math.max(...d.scores) : 0);
    }
    images += batch.batchSize;
    if (deformable) measure(model, batch, x, shares);
    x.dispose();
  }
  await loader.close();
  const lossTerms = await trainingLossTerms(model, loadCoco(cocoPaths(root, 'train')).records);
  const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
  const analysis = {
    inferImagesPerSec: images / inferSeconds,
    images,
    loadavgBefore: loadBefore,
    loadavgAfter: readFileSync('/proc/loadavg', 'utf8').trim(),
    // Detections above the score threshold (0.05) per image, and each image's highest score, averaged.
    detectionsPerImage: detectionCount / images,
    meanTopScore: mean(topScores),
    lossTerms,
    samplingInsideMask: deformable
      ? Object.fromEntries(
          STAGES.map((stage, s) => [
            stage.name,
            { deformable: mean(shares[s].deformable), grid: mean(shares[s].grid), objects: shares[s].grid.length },
          ]),
        )
      : null,
  };
  writeFileAtomic(join(values.run, 'analysis.json'), JSON.stringify(analysis, null, 1) + '\n');
  console.log(JSON.stringify(analysis));
  model.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
