import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '@deformjs/core';
import { bench, compareRow, reportBench, runReferenceScript, writeFileAtomic } from '@deformjs/core/node';
import { evaluateCoco, SegmentationEvaluator } from '../src';
import { DETS_PER_IMAGE, IMAGES, syntheticCoco } from './coco_data';

/**
 * COCO box evaluation of 5000 images x 100 detections (80 categories, seeded synthetic data), and the
 * segmentation accumulator on VOC-sized label maps. With DEFORMJS_COCOEVAL_PATH pointing at a folder holding
 * a `pycocotools` package (see scripts/make_coco_fixtures.py), the same data also goes through COCOeval and
 * the row reports its time and the largest difference between the two sets of 12 stats. With
 * DEFORMJS_AUTOSEG_UTILS pointing at a copy of Auto Seg-Loss's mmseg/core/evaluation/utils.py, its PyTorch
 * evaluator (CPU, 2 threads) runs on the same label maps and the row reports the largest count difference.
 */

async function main(): Promise<void> {
  const rows = [await benchCoco(), await benchSegmentation()];
  reportBench('metrics', rows, fileURLToPath(new URL('..', import.meta.url)));
}

/** Writes `contents` to a temporary file, runs the reference `script` on it (then `args`), removes the file. */
function runReferenceOnData<T>(name: string, contents: string | Uint8Array, script: string, args: string[]): T | null {
  const data = join(tmpdir(), `deformjs-metrics-${process.pid}-${name}`);
  writeFileAtomic(data, contents);
  try {
    return runReferenceScript(fileURLToPath(new URL(script, import.meta.url)), [data, ...args]) as T | null;
  } finally {
    rmSync(data, { force: true });
  }
}

async function benchCoco(): Promise<object> {
  const { gt, results } = syntheticCoco(2024);
  console.log(
    `COCO: ${gt.images.length} images, ${gt.annotations.length} ground-truth boxes, ${results.length} detections`,
  );
  let stats: number[] = [];
  const ours = await bench('evaluateCoco', () => (stats = evaluateCoco(gt, results).stats), { warmup: 1, runs: 5 });
  console.log(`ours: AP ${stats[0].toFixed(4)} AP50 ${stats[1].toFixed(4)} AR100 ${stats[8].toFixed(4)}`);

  const cocoeval = process.env.DEFORMJS_COCOEVAL_PATH;
  const reference = cocoeval
    ? runReferenceOnData<{ ms: number; stats: number[] }>(
        'coco-bench.json',
        JSON.stringify({ groundTruth: gt, results }),
        './coco_reference.py',
        [cocoeval],
      )
    : null;
  const referenceMs = reference?.ms ?? null;
  return compareRow(`coco bbox ${IMAGES} img x ${DETS_PER_IMAGE} det`, ours, referenceMs, {
    seconds: ours.median / 1000,
    referenceSeconds: referenceMs === null ? null : referenceMs / 1000,
    maxStatDiff: reference ? Math.max(...reference.stats.map((s, i) => Math.abs(s - stats[i]))) : null,
  });
}

/** 20 VOC-sized (500 x 375) label-map pairs [prediction, ground truth]: random discs, the prediction shifted. */
function segmentationMaps(rng: Rng, H: number, W: number): Array<readonly [Uint8Array, Uint8Array]> {
  return Array.from({ length: 20 }, () => {
    const gtMap = new Uint8Array(H * W);
    const pred = new Uint8Array(H * W);
    const blobs = Array.from({ length: 6 }, () => [
      rng.uniform(0, W),
      rng.uniform(0, H),
      rng.uniform(30, 150),
      1 + rng.int(20),
    ]);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        let g = 0;
        let p = 0;
        for (const [cx, cy, r, c] of blobs) {
          if ((x - cx) ** 2 + (y - cy) ** 2 < r * r) g = c;
          if ((x - cx - 3) ** 2 + (y - cy) ** 2 < r * r * 0.9) p = c;
        }
        gtMap[y * W + x] = g;
        pred[y * W + x] = p;
      }
    }
    return [pred, gtMap] as const;
  });
}

/** The segmentation accumulator, 21 classes, with boundary IoU and boundary F1. */
async function benchSegmentation(): Promise<object> {
  const H = 375;
  const W = 500;
  const maps = segmentationMaps(new Rng(7), H, W);
  let evaluator = new SegmentationEvaluator({ numClasses: 21 });
  const seg = await bench(
    'SegmentationEvaluator',
    () => {
      evaluator = new SegmentationEvaluator({ numClasses: 21 });
      for (const [pred, gtMap] of maps) evaluator.update(pred, gtMap, H, W);
      return evaluator.result();
    },
    { warmup: 1, runs: 5 },
  );
  let referenceMs: number | null = null;
  let countDiff: number | null = null;
  const autoseg = process.env.DEFORMJS_AUTOSEG_UTILS;
  if (autoseg) {
    const bytes = new Uint8Array(2 * maps.length * H * W);
    maps.forEach(([pred, gtMap], i) => {
      bytes.set(pred, 2 * i * H * W);
      bytes.set(gtMap, (2 * i + 1) * H * W);
    });
    const args = [autoseg, String(maps.length), String(H), String(W), '21'];
    const reference = runReferenceOnData<{ ms: number; counts: Record<string, number[]> }>(
      'seg-bench.bin',
      bytes,
      './segmentation_reference.py',
      args,
    );
    if (reference) {
      referenceMs = reference.ms;
      const ours: Record<string, Float64Array> = {
        confusion: evaluator.confusion,
        bandConfusion: evaluator.bandConfusion,
        nFg: evaluator.predTotal,
        nGt: evaluator.gtTotal,
        matchFg: evaluator.predMatched,
        matchGt: evaluator.gtMatched,
      };
      countDiff = Math.max(
        ...Object.entries(reference.counts).flatMap(([k, v]) => v.map((x, i) => Math.abs(x - ours[k][i]))),
      );
    }
  }
  return compareRow('segmentation 20 x 500x375, 21 classes (mIoU+BIoU+BF1)', seg, referenceMs, {
    seconds: seg.median / 1000,
    referenceSeconds: referenceMs === null ? null : referenceMs / 1000,
    maxStatDiff: countDiff,
  });
}

void main();
