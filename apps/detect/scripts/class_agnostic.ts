/**
 * What a trained shapes-world detector gets wrong: COCO AP of its checkpoint on the validation split as
 * usual, and class-agnostic (every ground-truth box and every detection relabelled as one class). The gap
 * is what wrong class labels and class scores cost; what remains below 1 is finding and placing the boxes.
 *
 *   npx tsx scripts/class_agnostic.ts --run runs/start [--val-count 80] [--cache runs/data] [--backend wasm]
 *
 * The data options (size, training count, data seed) are the run's own, read from its metrics.json.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend, type BackendName } from '@deformjs/core';
import { toCocoResults } from '@deformjs/deformable-detr';
import { evaluateCoco, type CocoDataset } from '@deformjs/metrics';
import { loadDetector } from '../src/checkpoint';
import { loadDetectionData } from '../src/data';
import { evaluate } from '../src/evaluate';
import type { Metrics } from '../src/train';

const { values } = parseArgs({
  options: {
    run: { type: 'string' },
    'val-count': { type: 'string', default: '80' },
    cache: { type: 'string', default: 'runs/data' },
    backend: { type: 'string', default: 'wasm' },
  },
});
if (!values.run) throw new Error('class_agnostic: --run <train output folder> is required');
const metrics = JSON.parse(readFileSync(join(values.run, 'metrics.json'), 'utf8')) as Metrics;
const shapes = (metrics.fingerprint.data as { shapes?: { size: number; trainCount: number; dataSeed: number } }).shapes;
if (!shapes) throw new Error(`class_agnostic: ${values.run} was not trained on the shapes world`);

await initBackend(values.backend as BackendName);
const data = await loadDetectionData({
  cache: values.cache!,
  trainSplit: 'train',
  valSplit: 'val',
  size: shapes.size,
  trainCount: shapes.trainCount,
  valCount: Number(values['val-count']),
  dataSeed: shapes.dataSeed,
  resize: 0,
  maxSize: 1333,
});
const { detector } = loadDetector(join(values.run, 'checkpoint.safetensors'), {
  numClasses: data.categoryIds.length,
});
const { result, detections } = await evaluate(detector, {
  records: data.val.records,
  groundTruth: data.valGroundTruth,
  categoryIds: data.categoryIds,
  transforms: data.evalTransforms,
  batchSize: 4,
  workers: 1,
});
detector.model.dispose();

const oneClass: CocoDataset = {
  ...data.valGroundTruth,
  annotations: data.valGroundTruth.annotations.map((a) => ({ ...a, category_id: 1 })),
  categories: [{ id: 1, name: 'shape' }],
};
const agnostic = evaluateCoco(
  oneClass,
  [...detections].flatMap(([id, d]) => toCocoResults(d, id, data.categoryIds).map((r) => ({ ...r, category_id: 1 }))),
);
const row = (name: string, stats: number[]) =>
  `| ${name} | ${stats
    .slice(0, 5)
    .map((x) => x.toFixed(3))
    .join(' | ')} |`;
console.log(
  [
    `${values.run}, ${data.val.records.length} validation images`,
    '',
    '| evaluation | AP | AP50 | AP75 | AP_S | AP_M |',
    '|---|---|---|---|---|---|',
    row('with classes', result.stats),
    row('class-agnostic', agnostic.stats),
  ].join('\n'),
);
