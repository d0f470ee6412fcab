// Diagnostic: do a trained model's RoI visual features carry colour and shape? Linear probes (softmax regression
// on the standardised features of the training captions' RoIs, accuracy on the validation captions' RoIs) at
// three stages: the mean pixel colour inside the box (what the input shows), the visual feature after
// obj_downsample, and the visual feature embedding BERT adds (after visual_1x1_object and visual_ln_object);
// then the visual LayerNorm gains beside the word embeddings' scale.
// npx tsx scripts/probe.ts --checkpoint runs/pretrain/checkpoint.safetensors [--data runs/data] [--count 300]
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, Rng } from '@deformjs/core';
import { loadConceptualCaptions, SHAPE_CLASSES, SHAPE_COLORS } from '@deformjs/datasets';
import { collate, disposeBatch, syntheticWorldTokenizer } from '@deformjs/vl-bert';
import { loadData } from '../src/data';
import { loadTrainedModel } from '../src/checkpoint';

const { values } = parseArgs({
  options: {
    checkpoint: { type: 'string' },
    data: { type: 'string', default: 'runs/data' },
    count: { type: 'string', default: '300' },
  },
});
if (!values.checkpoint) throw new Error('probe: --checkpoint <run>/checkpoint.safetensors is required');
await initBackend('wasm');
const data = await loadData({ dir: values.data, seed: 0, count: Number(values.count), size: 64, imageSize: 48 });
const tokenizer = syntheticWorldTokenizer();
const { model } = loadTrainedModel(values.checkpoint, data, tokenizer);
model.eval();

/** Colour labels from the generator's stand-in RoI features (one-hot colour after the 5 shape slots). */
function colours(split: 'train' | 'val'): number[][] {
  const dir = join(values.data, 'shapes-seed0-count' + values.count + '-size64', 'captions');
  const c = loadConceptualCaptions({ tsvFile: join(dir, `${split}.tsv`), featureDir: join(dir, 'features') });
  return c.records.map((_, i) => {
    const r = c.regions(i);
    return Array.from({ length: r.boxes.length / 4 }, (_, k) => {
      const f = r.features.subarray(k * r.featureDim + SHAPE_CLASSES.length, k * r.featureDim + 13);
      return f.indexOf(Math.max(...f));
    });
  });
}

type Rows = { stage: Record<string, number[][]>; colour: number[]; shape: number[] };
function features(split: 'train' | 'val'): Rows {
  const items = data.captions[split];
  const col = colours(split);
  const rows: Rows = { stage: { rgb: [], downsample: [], embedding: [] }, colour: [], shape: [] };
  for (let i = 0; i < items.length; i += 16) {
    const chunk = items.slice(i, i + 16);
    const batch = collate(
      chunk.map((it) => ({
        image: it.image,
        boxes: it.boxes,
        ...(model.backbone ? {} : { roiFeatures: it.features }),
        ids: [2, 3],
        segmentIds: [0, 0],
      })),
      data.imageSize,
      0,
    );
    const [down, emb] = tf.tidy(() => {
      const regions = batch.roiFeatures && { features: batch.roiFeatures, roiMask: batch.roiMask };
      const v = model.visualFeatures(batch.images, batch.boxes, regions);
      return [v.rois, model.visual_ln_object.forward(model.visual_1x1_object.forward(v.rois))];
    });
    const d = down.arraySync() as number[][][];
    const e = emb.arraySync() as number[][][];
    tf.dispose([down, emb]);
    disposeBatch(batch);
    chunk.forEach((it, b) =>
      it.boxes.forEach((box, r) => {
        // Mean normalised RGB inside the box: what the pixels alone say.
        const mean = [0, 0, 0];
        let n = 0;
        for (let y = Math.floor(box[1]); y < Math.ceil(box[3]); y++)
          for (let x = Math.floor(box[0]); x < Math.ceil(box[2]); x++) {
            for (let c = 0; c < 3; c++) mean[c] += it.image[3 * (y * data.imageSize + x) + c];
            n++;
          }
        rows.stage.rgb.push(mean.map((m) => m / Math.max(1, n)));
        rows.stage.downsample.push(d[b][r]);
        rows.stage.embedding.push(e[b][r]);
        rows.colour.push(col[i + b][r]);
        rows.shape.push(it.classes[r]);
      }),
    );
  }
  return rows;
}

function probe(train: number[][], y: number[], val: number[][], yv: number[], classes: number): number {
  return tf.tidy(() => {
    const x = tf.tensor2d(train);
    const mean = tf.mean(x, 0);
    const std = tf.add(tf.sqrt(tf.moments(x, 0).variance), 1e-6);
    const norm = (t: tf.Tensor) => tf.div(tf.sub(t, mean), std);
    const xs = norm(x);
    const rng = new Rng(1);
    const w = tf.variable(
      tf.tensor2d(
        Array.from({ length: train[0].length * classes }, () => rng.normal(0, 0.01)),
        [train[0].length, classes],
      ),
    );
    const bias = tf.variable(tf.zeros([classes]));
    const labels = tf.oneHot(tf.tensor1d(y, 'int32'), classes);
    const opt = tf.train.adam(0.05);
    for (let s = 0; s < 300; s++)
      opt.minimize(() => tf.losses.softmaxCrossEntropy(labels, tf.add(tf.matMul(xs, w), bias)) as tf.Scalar);
    const predicted = tf.argMax(tf.add(tf.matMul(norm(tf.tensor2d(val)), w), bias), -1).dataSync();
    const acc = yv.filter((v, i) => predicted[i] === v).length / yv.length;
    opt.dispose();
    w.dispose();
    bias.dispose();
    return acc;
  });
}

const train = features('train');
const val = features('val');
const majority = (y: number[]) => Math.max(...[...new Set(y)].map((c) => y.filter((v) => v === c).length)) / y.length;
console.log(
  `RoIs: ${train.colour.length} train, ${val.colour.length} val; majority colour ${majority(val.colour).toFixed(3)}, shape ${majority(val.shape).toFixed(3)}`,
);
for (const stage of Object.keys(train.stage)) {
  const c = probe(train.stage[stage], train.colour, val.stage[stage], val.colour, SHAPE_COLORS.length);
  const s = probe(train.stage[stage], train.shape, val.stage[stage], val.shape, SHAPE_CLASSES.length);
  console.log(`${stage}: colour ${c.toFixed(3)}  shape ${s.toFixed(3)}`);
}
const gain = (ln: { weight: tf.Variable }) => tf.tidy(() => tf.mean(tf.abs(ln.weight)).dataSync()[0]);
console.log(
  `visual LayerNorm mean |gain|: text ${gain(model.visual_ln_text).toFixed(4)}, object ${gain(model.visual_ln_object).toFixed(4)}; word embedding row rms ${tf.tidy(() => tf.sqrt(tf.mean(tf.square(model.bert.embeddings.word_embeddings.weight))).dataSync()[0]).toFixed(4)}`,
);
model.dispose();
