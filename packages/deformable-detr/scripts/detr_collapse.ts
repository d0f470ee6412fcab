/**
 * Why does plain DETR sit on the mean box on the shapes world? Trains DETR (DETR_SMALL) and logs, every
 * `--every` steps: the last layer's loss terms, how far apart the queries' boxes are (std over queries of the
 * predicted centres, per image, averaged), the fraction of queries whose best class is "no object", the
 * gradient norm of each parameter group before clipping, and the scale of the encoder's input (input_proj's
 * output) against the sine position embedding it is added to.
 *
 *   npx tsx scripts/detr_collapse.ts --steps 600 --lr 5e-4 --lr-backbone 1 --out /tmp/detr-collapse.json
 *   (optionally --backbone-weights <apps/detr pretrain-backbone file>)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@deformjs/core';
import { DataLoader, cocoPaths, ensureShapesDataset, loadCoco } from '@deformjs/datasets';
import { AdamW, clipGradNorm, linearWarmup, positionEmbeddingSine } from '@deformjs/nn';
import { readSafetensors, toTensor } from '@deformjs/weights';
import { DETR, DETR_SMALL, SetCriterion, paramGroups } from '../src/index';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '600' },
    every: { type: 'string', default: '25' },
    lr: { type: 'string', default: '5e-4' },
    'lr-backbone': { type: 'string', default: '1' },
    batch: { type: 'string', default: '4' },
    size: { type: 'string', default: '128' },
    'backbone-weights': { type: 'string' },
    cache: { type: 'string', default: '/tmp/deformjs-shapes' },
    out: { type: 'string', default: '/tmp/detr-collapse.json' },
  },
});
const steps = Number(values.steps);
const every = Number(values.every);

await initBackend('wasm');
const root = await ensureShapesDataset('detection', values.cache!, {
  seed: 0,
  count: 400,
  valCount: 80,
  size: Number(values.size),
});
const train = loadCoco(cocoPaths(root, 'train'));
const model = new DETR({ ...DETR_SMALL, numClasses: train.classes.length });
if (values['backbone-weights']) {
  const path = values['backbone-weights'];
  const stored = readSafetensors(new Uint8Array(readFileSync(path)), path).tensors;
  const tensors = Object.fromEntries(Object.entries(stored).map(([k, v]) => [k, toTensor(v)]));
  model.backbone.body.loadStateDict(tensors, { torchLayout: true });
  tf.dispose(Object.values(tensors));
}
const criterion = new SetCriterion({ numClasses: train.classes.length, kind: 'softmax' });
const groups = paramGroups(model, { backbone: Number(values['lr-backbone']) });
const groupNames = ['transformer and heads', 'backbone'];
const optimizer = new AdamW(groups, { lr: Number(values.lr), weightDecay: 1e-4 });
const schedule = linearWarmup(() => Number(values.lr), 50);
const loader = new DataLoader(train.records, {
  batchSize: Number(values.batch),
  transforms: [{ type: 'horizontalFlip', p: 0.5 }, { type: 'normalize' }],
  seed: 0,
  dropLast: true,
  workers: 1,
});

const log: Record<string, number>[] = [];
let step = 0;
for await (const batch of loader.batches({ untilEpoch: Math.ceil(steps / loader.stepsPerEpoch) })) {
  if (step >= steps) break;
  const { batchSize: n, height: h, width: w } = batch;
  const images = tf.tensor4d(batch.images, [n, h, w, 3]);
  const mask = tf.tensor3d(
    Uint8Array.from(batch.pixelMask, (v) => (v ? 0 : 1)),
    [n, h, w],
    'bool',
  );
  const targets = batch.targets.map((t) => ({ labels: t.labels, boxes: t.boxes }));
  optimizer.lr = schedule(step);
  model.train();
  let spread = 0;
  let noObject = 0;
  let parts: Record<string, number> = {};
  const { value, grads } = tf.variableGrads(
    () => {
      const out = model.forward(images, mask);
      const { loss, components } = criterion.forward(out, targets);
      const boxes = out.predBoxes.arraySync() as number[][][];
      spread =
        boxes.reduce((s, queries) => {
          const std = (k: number) => {
            const v = queries.map((b) => b[k]);
            const m = v.reduce((a, b) => a + b, 0) / v.length;
            return Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length);
          };
          return s + (std(0) + std(1)) / 2;
        }, 0) / n;
      const best = tf.argMax(out.predLogits, -1).dataSync();
      noObject = best.filter((c) => c === train.classes.length).length / best.length;
      parts = Object.fromEntries(['loss_ce', 'loss_bbox', 'loss_giou'].map((k) => [k, components[k].dataSync()[0]]));
      tf.dispose(Object.values(components));
      return loss;
    },
    groups.flatMap((g) => g.params),
  );
  const groupNorms = groups.map((g) =>
    Math.sqrt(g.params.reduce((s, v) => s + tf.tidy(() => tf.sum(tf.square(grads[v.name])).dataSync()[0]), 0)),
  );
  const clipped = clipGradNorm(grads, 0.1);
  optimizer.step(clipped.grads);
  if (step % every === 0 || step === steps - 1) {
    // The encoder's input and the position embedding added to its queries and keys.
    const [srcRms, posRms] = tf.tidy(() => {
      const [c5] = model.backbone.forward(images);
      const src = model.inputProj.forward(c5);
      const levelMask = tf.zeros([n, c5.shape[1]!, c5.shape[2]!], 'bool');
      const pos = positionEmbeddingSine(levelMask, { numPosFeats: DETR_SMALL.hiddenDim / 2, normalize: true });
      return [src, pos].map((t) => Math.sqrt(tf.mean(tf.square(t)).dataSync()[0]));
    });
    const row = {
      step,
      loss: value.dataSync()[0],
      ...parts,
      querySpread: spread,
      noObjectFraction: noObject,
      ...Object.fromEntries(groupNorms.map((g, i) => [`gradNorm ${groupNames[i]}`, g])),
      srcRms,
      posRms,
    };
    log.push(row);
    console.log(JSON.stringify(row));
    writeFileSync(values.out!, JSON.stringify({ args: values, log }, null, 1) + '\n');
  }
  tf.dispose([images, mask, value, ...Object.values(grads), ...Object.values(clipped.grads)]);
  step += 1;
}
await loader.close();
