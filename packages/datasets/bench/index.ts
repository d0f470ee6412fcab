import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bench, reportBench, runReferenceScript } from '@deformjs/core/node';
import { collate, DataLoader, detrTrainTransforms, generateDetection, loadCoco } from '../src/index';
import { decodeAndTransform } from '../src/pipeline';

// Decode + DETR augmentation + padded batching of 512 px JPEGs, images per second, against torchvision's
// PIL pipeline through torch's DataLoader with the same number of worker processes.
const IMAGES = 96;
const BATCH = 8;
const SIZE = 512;
const scales = [416, 448, 480, 512];
const maxSize = 512;
const cropResizes = [320, 384, 448];
const cropSize: [number, number] = [288, 448];

const benchDir = dirname(fileURLToPath(import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'deformjs-datasets-bench-'));
try {
  const start = performance.now();
  const files = await generateDetection({ out: dir, seed: 0, count: IMAGES, valCount: 0, size: SIZE });
  const generateMs = performance.now() - start;
  const records = loadCoco(files.train).records;
  const transforms = detrTrainTransforms({ scales, maxSize, cropResizes, cropSize });
  const rows: object[] = [];

  rows.push({
    case: `generate ${IMAGES} detection images at ${SIZE} px`,
    workers: 0,
    epochMs: Math.round(generateMs),
    imagesPerSecond: Math.round((IMAGES / generateMs) * 1000),
    reference: '-',
    ratio: '-',
  });

  let epoch = 0;
  for (const workers of [0, 1, 2]) {
    const loader = new DataLoader(records, { batchSize: BATCH, transforms, seed: 1, workers, prefetch: 4 });
    const result = await bench(
      `loader workers=${workers}`,
      async () => {
        for await (const batch of loader.batches({ epoch, untilEpoch: epoch + 1 })) void batch;
        epoch++;
      },
      { warmup: 1, runs: 5 },
    );
    await loader.close();
    type Reference = { images: number; epoch_ms: number } | null;
    let reference: Reference = null;
    if (workers > 0) {
      reference = runReferenceScript(join(benchDir, 'reference_loader.py'), [
        files.train.annotationFile,
        files.train.imageDir,
        String(BATCH),
        String(workers),
        '5',
        JSON.stringify(scales),
        String(maxSize),
        JSON.stringify(cropResizes),
        JSON.stringify(cropSize),
      ]) as Reference;
    }
    const ours = (IMAGES / result.median) * 1000;
    const theirs = reference ? (reference.images / reference.epoch_ms) * 1000 : null;
    rows.push({
      case: `decode+augment+batch ${SIZE} px, batch ${BATCH}`,
      workers,
      epochMs: Math.round(result.median),
      imagesPerSecond: Math.round(ours),
      reference: theirs === null ? '-' : `torch DataLoader ${Math.round(theirs)} img/s`,
      ratio: theirs === null ? '-' : Math.round((ours / theirs) * 100) / 100,
    });
  }

  // Collation alone, on already-decoded samples.
  const samples = await Promise.all(
    records.slice(0, BATCH).map((record) => decodeAndTransform({ record, transforms, seed: 3, masks: false })),
  );
  const collateResult = await bench('collate', () => collate(samples), { warmup: 2, runs: 9 });
  rows.push({
    case: `collate ${BATCH} images (pad + mask + boxes)`,
    workers: 0,
    epochMs: Math.round(collateResult.median * 100) / 100,
    imagesPerSecond: Math.round((BATCH / collateResult.median) * 1000),
    reference: '-',
    ratio: '-',
  });

  reportBench('loader', rows);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
