import { join } from 'node:path';
import { writeFileAtomic } from '@deformjs/core/node';
import {
  DataLoader,
  decodeImage,
  drawBoxes,
  encodeImage,
  type ImageRecord,
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
