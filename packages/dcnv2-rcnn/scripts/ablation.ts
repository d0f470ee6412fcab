/**
 * One run of the DCNv2 ablation on the shapes world: trains a FASTER_RCNN_SMALL variant for `--steps` steps
 * (AdamW, linear warmup, 10x drop at 80%), evaluates COCO AP on the validation split, times training and
 * inference, and for DCN variants measures where the last C4 deformable conv samples (inside the object's mask
 * or not). Writes `<out>/<variant>-s<seed>.json`. Usage:
 *   nice -n 10 npx tsx scripts/ablation.ts --variant dcnv2-mdpool --seed 0 --steps 600 --size 128 --out runs/ablation
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@deformjs/core';
import { writeFileAtomic } from '@deformjs/core/node';
import { DataLoader, cocoPaths, ensureShapesDataset, loadCoco, type Batch } from '@deformjs/datasets';
import { evaluateCoco, type CocoDataset, type CocoDetection } from '@deformjs/metrics';
import { AdamW, convNorm, linearWarmup, stepSchedule } from '@deformjs/nn';
import { readFileSync } from 'node:fs';
import { FASTER_RCNN_SMALL, FasterRCNN, trainStep } from '../src/index';
import { VARIANTS } from './variants';

const { values } = parseArgs({
  options: {
    variant: { type: 'string', default: 'plain' },
    seed: { type: 'string', default: '0' },
    steps: { type: 'string', default: '600' },
    batch: { type: 'string', default: '4' },
    lr: { type: 'string', default: '0.001' },
    out: { type: 'string', default: 'runs/ablation' },
    cache: { type: 'string', default: 'runs/data' },
    'train-count': { type: 'string', default: '400' },
    'val-count': { type: 'string', default: '80' },
    size: { type: 'string', default: '128' },
  },
});

function inputs(batch: Batch) {
  return {
    images: tf.tensor4d(batch.images, [batch.batchSize, batch.height, batch.width, 3]),
    imageSizes: batch.targets.map((t) => t.size),
    targets: batch.targets.map((t) => ({ boxes: t.boxesXyxy, labels: t.labels, iscrowd: t.iscrowd })),
  };
}

/**
 * DCNv2's analysis in miniature: at the C4 cell under each object's centre, the last C4 block's 3x3 conv samples
 * 9 points (offsets from its conv_offset); the share of their weight (the modulation for v2, 1 for v1 and for
 * the plain grid) that lands inside the object's mask.
 */
function samplingInsideMask(model: FasterRCNN, batch: Batch): { deformable: number[]; grid: number[] } {
  const body = model.backbone.body as unknown as {
    conv1: never;
    bn1: never;
    stages: {
      blocks: {
        conv1: never;
        bn1: never;
        conv2: { convOffset: { forward(x: tf.Tensor): tf.Tensor } };
        forward(x: tf.Tensor): tf.Tensor;
      }[];
      forward(x: tf.Tensor): tf.Tensor;
    }[];
  };
  const modulated = model.config.dcn.version === 2;
  const out = { deformable: [] as number[], grid: [] as number[] };
  const { offsets, h, w } = tf.tidy(() => {
    let x = convNorm(
      body.conv1,
      body.bn1,
      tf.tensor4d(batch.images, [batch.batchSize, batch.height, batch.width, 3]),
      true,
    );
    x = tf.maxPool(x as tf.Tensor4D, 3, 2, 1);
    x = body.stages[0].forward(x);
    x = body.stages[1].forward(x);
    const blocks = body.stages[2].blocks;
    for (const b of blocks.slice(0, -1)) x = b.forward(x);
    const last = blocks[blocks.length - 1];
    const hidden = convNorm(last.conv1, last.bn1, x, true);
    return { offsets: last.conv2.convOffset.forward(hidden), h: hidden.shape[1]!, w: hidden.shape[2]! };
  });
  const data = offsets.dataSync();
  const channels = offsets.shape[3]!;
  offsets.dispose();
  const stride = 16;
  batch.targets.forEach((t, b) => {
    const [height, width] = t.size;
    const masks = t.masks!;
    for (let o = 0; o < t.labels.length; o++) {
      if (t.iscrowd[o]) continue;
      const [x1, y1, x2, y2] = t.boxesXyxy.subarray(4 * o, 4 * o + 4);
      const cx = Math.min(Math.floor((x1 + x2) / 2 / stride), w - 1);
      const cy = Math.min(Math.floor((y1 + y2) / 2 / stride), h - 1);
      const base = ((b * h + cy) * w + cx) * channels;
      const inside = (fy: number, fx: number) => {
        // Feature pixel (fy, fx) covers image pixels around (f + 0.5) * stride.
        const px = Math.floor((fx + 0.5) * stride);
        const py = Math.floor((fy + 0.5) * stride);
        if (px < 0 || py < 0 || px >= width || py >= height) return 0;
        return masks[(o * height + py) * width + px];
      };
      let weighted = 0;
      let total = 0;
      let gridInside = 0;
      for (let k = 0; k < 9; k++) {
        const gy = cy + Math.floor(k / 3) - 1;
        const gx = cx + (k % 3) - 1;
        const weight = modulated ? 1 / (1 + Math.exp(-data[base + 18 + k])) : 1;
        weighted += weight * inside(gy + data[base + 2 * k], gx + data[base + 2 * k + 1]);
        total += weight;
        gridInside += inside(gy, gx);
      }
      out.deformable.push(weighted / total);
      out.grid.push(gridInside / 9);
    }
  });
  return out;
}

async function main() {
  await initBackend('wasm');
  const variant = values.variant!;
  if (!VARIANTS[variant]) throw new Error(`--variant: one of ${Object.keys(VARIANTS).join(', ')}, got ${variant}`);
  const seed = Number(values.seed);
  const steps = Number(values.steps);
  const batchSize = Number(values.batch);
  const root = await ensureShapesDataset('detection', values.cache!, {
    seed: 0,
    count: Number(values['train-count']),
    valCount: Number(values['val-count']),
    size: Number(values.size),
  });
  const train = loadCoco(cocoPaths(root, 'train'));
  const valPaths = cocoPaths(root, 'val');
  const val = loadCoco(valPaths);
  const groundTruth = JSON.parse(readFileSync(valPaths.annotationFile, 'utf8')) as CocoDataset;
  const config = VARIANTS[variant]({ ...FASTER_RCNN_SMALL, numClasses: train.classes.length, seed });
  const model = new FasterRCNN(config);
  const optimizer = new AdamW([{ params: model.trainableVariables() }], { lr: Number(values.lr), weightDecay: 1e-4 });
  const schedule = linearWarmup(stepSchedule(Number(values.lr), [Math.floor(0.8 * steps) - 50]), 50);
  const loader = new DataLoader(train.records, {
    batchSize,
    transforms: [{ type: 'horizontalFlip', p: 0.5 }, { type: 'normalize' }],
    seed,
    dropLast: true,
    workers: 1,
  });
  const losses: [number, number][] = [];
  let step = 0;
  let trainSeconds = 0;
  const cpu0 = process.cpuUsage();
  for await (const batch of loader.batches()) {
    if (step >= steps) break;
    optimizer.lr = schedule(step);
    const batchInputs = inputs(batch);
    const t0 = performance.now();
    const result = trainStep(model, optimizer, batchInputs, { clipMaxNorm: 10 });
    trainSeconds += (performance.now() - t0) / 1000;
    tf.dispose(batchInputs.images);
    step += 1;
    losses.push([step, result.loss]);
    if (step % 25 === 0)
      console.log(
        `${variant} s${seed} step ${step}/${steps} loss ${result.loss.toFixed(3)} ${(step / trainSeconds).toFixed(2)} it/s load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
      );
  }
  await loader.close();
  const cpu = process.cpuUsage(cpu0);
  model.eval();
  const evalLoader = new DataLoader(val.records, {
    batchSize,
    transforms: [{ type: 'normalize' }],
    seed: 0,
    shuffle: false,
    workers: 1,
    masks: model.config.dcn.stages !== 'none',
  });
  const results: CocoDetection[] = [];
  const categoryIds = train.categories.map((c) => c.id);
  let inferSeconds = 0;
  let images = 0;
  const share = { deformable: [] as number[], grid: [] as number[] };
  for await (const batch of evalLoader.batches({ untilEpoch: 1 })) {
    const { images: x, imageSizes } = inputs(batch);
    const t0 = performance.now();
    const dets = model.detect(x, imageSizes);
    inferSeconds += (performance.now() - t0) / 1000;
    images += batch.batchSize;
    if (model.config.dcn.stages !== 'none') {
      const s = samplingInsideMask(model, batch);
      share.deformable.push(...s.deformable);
      share.grid.push(...s.grid);
    }
    x.dispose();
    batch.targets.forEach((t, i) => {
      const d = dets[i];
      for (let k = 0; k < d.scores.length; k++) {
        const [x1, y1, x2, y2] = d.boxes.subarray(4 * k, 4 * k + 4);
        results.push({
          image_id: Number(t.id),
          category_id: categoryIds[d.labels[k]],
          bbox: [x1, y1, x2 - x1, y2 - y1],
          score: d.scores[k],
        });
      }
    });
  }
  await evalLoader.close();
  const evaluation = evaluateCoco(groundTruth, results);
  const mean = (a: number[]) => (a.length ? a.reduce((s, v) => s + v, 0) / a.length : null);
  const record = {
    variant,
    seed,
    steps,
    batchSize,
    config,
    stats: evaluation.stats,
    trainItPerSec: steps / trainSeconds,
    inferImagesPerSec: images / inferSeconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    loadavgEnd: readFileSync('/proc/loadavg', 'utf8').trim(),
    samplingInsideMask: share.deformable.length
      ? { deformable: mean(share.deformable), grid: mean(share.grid), objects: share.deformable.length }
      : null,
    loss: losses,
  };
  mkdirSync(values.out!, { recursive: true });
  writeFileAtomic(join(values.out!, `${variant}-s${seed}.json`), JSON.stringify(record) + '\n');
  console.log(
    `${variant} s${seed}: AP ${evaluation.stats[0].toFixed(4)} AP50 ${evaluation.stats[1].toFixed(4)} ${record.trainItPerSec.toFixed(2)} it/s`,
  );
  model.dispose();
  optimizer.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
