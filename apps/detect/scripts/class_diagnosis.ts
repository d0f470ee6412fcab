/**
 * What a trained shapes-world Deformable DETR gets wrong, classes against boxes, from its raw outputs on the
 * validation split:
 *
 * - COCO AP as `eval` computes it (top 100 of queries x classes), and two class-agnostic scorings: every box
 *   and every one of those detections relabelled as one class (the earlier measure: a query appears once per
 *   class it scores, its duplicates are false positives), and one detection per query (its best class score:
 *   what a one-class detector with these boxes would output).
 * - Each query matched to a ground-truth box: greedily, queries by descending best score, each to the unmatched
 *   non-crowd box of highest IoU >= 0.5. For the matched queries, the confusion matrix of true class against
 *   best-scoring class, by object size (COCO: small < 32^2 pixels); the distribution of their true-class
 *   probability and best score; and the best score of unmatched queries (what false positives score).
 *
 *   npx tsx scripts/class_diagnosis.ts --run runs/start [--out docs/start/class-diagnosis.md] [--val-count 80]
 *     [--cache runs/data] [--backend wasm]
 *
 * The data options (size, training count, data seed) are the run's own, read from its metrics.json.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '@deformjs/core/node';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, type BackendName } from '@deformjs/core';
import { DataLoader } from '@deformjs/datasets';
import { disposeOutputs, toCocoResults, type DeformableDETR } from '@deformjs/deformable-detr';
import { cocoBoxIou, evaluateCoco, type CocoDataset, type CocoDetection } from '@deformjs/metrics';
import { loadDetector } from '../src/checkpoint';
import { loadDetectionData } from '../src/data';
import { detrInputs } from '../src/detectors/detr';
import { evaluate } from '../src/evaluate';
import type { Metrics } from '../src/train';

const { values } = parseArgs({
  options: {
    run: { type: 'string' },
    out: { type: 'string' },
    'val-count': { type: 'string', default: '80' },
    cache: { type: 'string', default: 'runs/data' },
    backend: { type: 'string', default: 'wasm' },
  },
});
if (!values.run) throw new Error('class_diagnosis: --run <train output folder> is required');
const metrics = JSON.parse(readFileSync(join(values.run, 'metrics.json'), 'utf8')) as Metrics;
const shapes = (metrics.fingerprint.data as { shapes?: { size: number; trainCount: number; dataSeed: number } }).shapes;
if (!shapes) throw new Error(`class_diagnosis: ${values.run} was not trained on the shapes world`);

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
const { kind, detector } = loadDetector(join(values.run, 'checkpoint.safetensors'), {
  numClasses: data.categoryIds.length,
});
if (kind.name !== 'deformable-detr')
  throw new Error(`class_diagnosis: ${values.run} holds a ${kind.label}; this reads Deformable DETR's sigmoid scores`);
const model = detector.model as DeformableDETR;
const classes = data.classes;
const c = classes.length;

// COCO AP as `eval` computes it, and the earlier class-agnostic relabelling of those same detections.
const { result, detections } = await evaluate(detector, {
  records: data.val.records,
  groundTruth: data.valGroundTruth,
  categoryIds: data.categoryIds,
  transforms: data.evalTransforms,
  batchSize: 4,
  workers: 1,
});
const oneClass: CocoDataset = {
  ...data.valGroundTruth,
  annotations: data.valGroundTruth.annotations.map((a) => ({ ...a, category_id: 1 })),
  categories: [{ id: 1, name: 'shape' }],
};
const relabelled = evaluateCoco(
  oneClass,
  [...detections].flatMap(([id, d]) => toCocoResults(d, id, data.categoryIds).map((r) => ({ ...r, category_id: 1 }))),
);

// Raw per-query outputs: best class and score, every class probability, the box in stored pixels.
const perQuery: CocoDetection[] = [];
const confusion = { small: zeros(c, c + 1), other: zeros(c, c + 1) }; // last column: no query matched
const trueProbs: number[] = [];
const bestOfMatched: number[] = [];
const secondOfMatched: number[] = [];
const bestOfUnmatched: number[] = [];
const loader = new DataLoader(data.val.records, {
  batchSize: 4,
  transforms: data.evalTransforms,
  seed: 0,
  shuffle: false,
  workers: 1,
});
model.eval();
for await (const batch of loader.batches({ untilEpoch: 1 })) {
  const { images, mask } = detrInputs(batch);
  const outputs = model.forward(images, mask);
  const probs = tf.tidy(() => tf.sigmoid(outputs.predLogits)).dataSync() as Float32Array;
  const boxes = outputs.predBoxes.dataSync();
  const q = outputs.predLogits.shape[1]!;
  disposeOutputs(outputs);
  tf.dispose([images, mask]);
  batch.targets.forEach((t, b) => {
    const [height, width] = t.origSize;
    const queries = Array.from({ length: q }, (_, k) => {
      const p = probs.subarray((b * q + k) * c, (b * q + k + 1) * c);
      const label = p.indexOf(Math.max(...p));
      const [cx, cy, w, h] = boxes.subarray((b * q + k) * 4, (b * q + k) * 4 + 4);
      const xywh = [(cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height];
      return { p: Array.from(p), label, score: p[label], xywh };
    }).sort((x, y) => y.score - x.score);
    for (const { score, xywh } of queries) perQuery.push({ image_id: Number(t.id), category_id: 1, bbox: xywh, score });
    const truths = Array.from(t.labels, (label, g) => ({ label, g })).filter(({ g }) => !t.iscrowd[g]);
    const truthBoxes = truths.flatMap(({ g }) => {
      const [x1, y1, x2, y2] = t.boxesXyxy.subarray(4 * g, 4 * g + 4);
      return [x1, y1, x2 - x1, y2 - y1];
    });
    const taken = new Array<boolean>(truths.length).fill(false);
    for (const query of queries) {
      let [best, bestIou] = [-1, 0.5];
      truths.forEach((_, j) => {
        const iou = cocoBoxIou(query.xywh, 0, truthBoxes, j, false);
        if (!taken[j] && iou >= bestIou) [best, bestIou] = [j, iou];
      });
      if (best < 0) {
        bestOfUnmatched.push(query.score);
        continue;
      }
      taken[best] = true;
      const truth = truths[best].label;
      sizeTable(truthBoxes, best)[truth][query.label] += 1;
      trueProbs.push(query.p[truth]);
      bestOfMatched.push(query.score);
      secondOfMatched.push([...query.p].sort((x, y) => y - x)[1]);
    }
    truths.forEach(({ label }, j) => {
      if (!taken[j]) sizeTable(truthBoxes, j)[label][c] += 1;
    });
  });
}
await loader.close();
detector.model.dispose();
const oneDetectionPerQuery = evaluateCoco(oneClass, perQuery);

function zeros(rows: number, cols: number): number[][] {
  return Array.from({ length: rows }, () => new Array<number>(cols).fill(0));
}
function sizeTable(xywh: number[], j: number): number[][] {
  return xywh[4 * j + 2] * xywh[4 * j + 3] < 32 * 32 ? confusion.small : confusion.other;
}
const fixed = (x: number) => x.toFixed(3);
const row = (name: string, stats: number[]) => `| ${name} | ${stats.slice(0, 5).map(fixed).join(' | ')} |`;
function quantiles(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const at = (f: number) => (s.length ? fixed(s[Math.min(s.length - 1, Math.floor(f * s.length))]) : '-');
  return `${s.length} | ${at(0.1)} | ${at(0.25)} | ${at(0.5)} | ${at(0.75)} | ${at(0.9)}`;
}
function confusionTable(name: string, m: number[][]): string[] {
  const matched = m.reduce((s, r) => s + r.slice(0, c).reduce((a, b) => a + b, 0), 0);
  const right = m.reduce((s, r, i) => s + r[i], 0);
  return [
    `${name}: ${matched} matched, best class right for ${right} (${fixed(right / Math.max(1, matched))})`,
    '',
    `| true \\ best class | ${classes.join(' | ')} | no query at IoU 0.5 | right |`,
    `|---|${'---|'.repeat(c + 2)}`,
    ...m.map((r, i) => {
      const n = r.slice(0, c).reduce((a, b) => a + b, 0);
      return `| ${classes[i]} | ${r.join(' | ')} | ${n ? fixed(r[i] / n) : '-'} |`;
    }),
    '',
  ];
}
const report = [
  `${values.run}, ${data.val.records.length} validation images (\`npx tsx scripts/class_diagnosis.ts --run ${values.run}\`)`,
  '',
  '| evaluation | AP | AP50 | AP75 | AP_S | AP_M |',
  '|---|---|---|---|---|---|',
  row('with classes (top 100 of queries x classes)', result.stats),
  row('class-agnostic, those detections relabelled', relabelled.stats),
  row('class-agnostic, one detection per query', oneDetectionPerQuery.stats),
  '',
  ...confusionTable('small objects', confusion.small),
  ...confusionTable('medium and large objects', confusion.other),
  '| scores (sigmoid) | n | 10% | 25% | 50% | 75% | 90% |',
  '|---|---|---|---|---|---|---|',
  `| matched queries: true class | ${quantiles(trueProbs)} |`,
  `| matched queries: best class | ${quantiles(bestOfMatched)} |`,
  `| matched queries: second best class | ${quantiles(secondOfMatched)} |`,
  `| unmatched queries: best class | ${quantiles(bestOfUnmatched)} |`,
].join('\n');
console.log(report);
if (values.out) writeFileAtomic(values.out, `${report}\n`);
