import { join } from 'node:path';
import { writeFileAtomic } from '@deformjs/core/node';
import {
  DataLoader,
  decodeImage,
  encodeImage,
  type ImageRecord,
  type RgbImage,
  type TransformSpec,
} from '@deformjs/datasets';
import { evaluateCoco, type CocoDataset, type CocoDetection, type CocoEvalResult } from '@deformjs/metrics';
import { toCocoResults } from '@deformjs/deformable-detr';
import type { Detections, Detector } from './detector';

export interface EvalOptions {
  records: readonly ImageRecord[];
  groundTruth: CocoDataset;
  categoryIds: number[];
  transforms: TransformSpec[];
  batchSize: number;
  workers: number;
}

/** Runs the model over the validation records and scores the top-100 detections per image with COCOeval's numbers. */
export async function evaluate(
  detector: Detector,
  o: EvalOptions,
): Promise<{ result: CocoEvalResult; detections: Map<number, Detections> }> {
  detector.model.eval();
  const loader = new DataLoader(o.records, {
    batchSize: o.batchSize,
    transforms: o.transforms,
    seed: 0,
    shuffle: false,
    workers: o.workers,
  });
  const results: CocoDetection[] = [];
  const detections = new Map<number, Detections>();
  for await (const batch of loader.batches({ untilEpoch: 1 })) {
    const dets = detector.detect(batch);
    batch.targets.forEach((t, i) => {
      detections.set(Number(t.id), dets[i]);
      results.push(...toCocoResults(dets[i], Number(t.id), o.categoryIds));
    });
  }
  await loader.close();
  return { result: evaluateCoco(o.groundTruth, results), detections };
}

const PALETTE: [number, number, number][] = [
  [230, 25, 75],
  [60, 180, 75],
  [255, 225, 25],
  [0, 130, 200],
  [245, 130, 48],
  [145, 30, 180],
  [70, 240, 240],
  [240, 50, 230],
];

function drawBox(image: RgbImage, [x1, y1, x2, y2]: number[], color: [number, number, number], thickness = 2): void {
  const { width, height, data } = image;
  const clampX = (v: number) => Math.max(0, Math.min(width - 1, Math.round(v)));
  const clampY = (v: number) => Math.max(0, Math.min(height - 1, Math.round(v)));
  const [a, b, c, d] = [clampX(x1), clampY(y1), clampX(x2), clampY(y2)];
  const paint = (x: number, y: number) => data.set(color, (y * width + x) * 3);
  for (let t = 0; t < thickness; t++) {
    for (let x = a; x <= c; x++) {
      paint(x, Math.min(height - 1, b + t));
      paint(x, Math.max(0, d - t));
    }
    for (let y = b; y <= d; y++) {
      paint(Math.min(width - 1, a + t), y);
      paint(Math.max(0, c - t), y);
    }
  }
}

/**
 * Draws on `image` the detections scoring at least `threshold`, and at least the `minBoxes` best (a young
 * model scores low), colour by class.
 */
export function drawBoxes(image: RgbImage, det: Detections, threshold = 0.5, minBoxes = 3): void {
  const floor = [...det.scores].sort((a, b) => b - a)[Math.min(minBoxes, det.scores.length) - 1] ?? Infinity;
  det.scores.forEach((score, i) => {
    if (score >= Math.min(threshold, floor))
      drawBox(image, Array.from(det.boxes.subarray(4 * i, 4 * i + 4)), PALETTE[det.labels[i] % PALETTE.length]);
  });
}

/** Draws detections on the first `count` records' images, as `detections-<id>.png` in `dir`. */
export async function drawDetections(
  records: readonly ImageRecord[],
  detections: Map<number, Detections>,
  dir: string,
  count: number,
): Promise<string[]> {
  const written: string[] = [];
  for (const record of records.slice(0, count)) {
    const det = detections.get(Number(record.id));
    if (!det) continue;
    const image = await decodeImage(record.imagePath, String(record.id));
    drawBoxes(image, det);
    const path = join(dir, `detections-${record.id}.png`);
    writeFileAtomic(path, await encodeImage(image, 'png'));
    written.push(path);
  }
  return written;
}
