/**
 * Trains ShapesClassifier with one depthwise variant on shapes-world crops (`shapeCrops` of @deformjs/datasets), evaluates
 * it, and measures its effective receptive field (as Gao et al. draw it: the gradient of the central unit of the
 * last feature map with respect to the input, in absolute value, averaged over validation images). Writes
 * `<out>/<variant>-s<seed>.json` atomically. scripts/run_network.sh runs every variant and seed;
 * scripts/network_report.ts makes the README table and the ERF images.
 *
 * Usage: npx tsx scripts/train_classifier.ts --variant dk-local --seed 0 [--steps 300 --batch 32 --lr 0.003
 *   --predictor-lr-scale 0.1]
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { Rng, initBackend } from '@deformjs/core';
import { writeFileAtomic } from '@deformjs/core/node';
import { shapeCrops, type CropSet } from '@deformjs/datasets';
import { AdamW, cosineSchedule, optimizationStep } from '@deformjs/nn';
import { DEPTHWISE_VARIANTS, ShapesClassifier, type DepthwiseVariant } from './network';

const { values } = parseArgs({
  options: {
    variant: { type: 'string' },
    seed: { type: 'string', default: '0' },
    steps: { type: 'string', default: '300' },
    batch: { type: 'string', default: '32' },
    lr: { type: 'string', default: '0.003' },
    'predictor-lr-scale': { type: 'string', default: '0.1' },
    width: { type: 'string', default: '16' },
    size: { type: 'string', default: '32' },
    count: { type: 'string', default: '300' },
    'image-size': { type: 'string', default: '96' },
    'erf-images': { type: 'string', default: '128' },
    data: { type: 'string', default: 'runs/data' },
    out: { type: 'string', default: 'results/network' },
  },
});
const variant = values.variant as DepthwiseVariant;
if (!DEPTHWISE_VARIANTS.includes(variant)) throw new Error(`--variant: one of ${DEPTHWISE_VARIANTS.join(', ')}`);
const [seed, steps, batch, width, size, count, imageSize, erfImages] = [
  values.seed,
  values.steps,
  values.batch,
  values.width,
  values.size,
  values.count,
  values['image-size'],
  values['erf-images'],
].map(Number);
const lr = Number(values.lr);
const predictorLrScale = Number(values['predictor-lr-scale']);

await initBackend('wasm');
const data = { cacheDir: values.data!, count, imageSize, size };
const train = await shapeCrops(data, 'train');
const val = await shapeCrops(data, 'val');

const model = new ShapesClassifier({ variant, width, seed });
const parameters = model.trainableVariables().reduce((n, v) => n + v.size, 0);
const variables = model.trainableVariables();
// The deformation predictors (kernel deltas, image offsets, the global fc) learn at a tenth of the rate, as
// Deformable DETR's sampling offsets do: at the full rate Adam moves every delta by up to a pixel per step.
const predictors = new Set(
  model
    .namedParameters()
    .filter(([name]) => /\.0\.(rotation_conv|offset_conv|fc)\./.test(name))
    .map(([, p]) => p.variable),
);
const optimizer = new AdamW(
  [
    { params: variables.filter((v) => !predictors.has(v)) },
    { params: [...predictors], lrScale: predictorLrScale },
  ].filter((group) => group.params.length > 0),
  { lr, weightDecay: 1e-4 },
);
const schedule = cosineSchedule(lr, steps);
const rng = new Rng(1000 + seed);

/** Crops `indices` of a set: images [B, size, size, 3] and one-hot labels [B, 5]. */
function batchOf(set: CropSet, indices: number[]): { images: tf.Tensor4D; labels: tf.Tensor2D } {
  return tf.tidy(() => ({
    images: tf.gather(set.images, indices) as tf.Tensor4D,
    labels: tf.oneHot(
      tf.tensor1d(
        indices.map((i) => set.labels[i]),
        'int32',
      ),
      5,
    ) as tf.Tensor2D,
  }));
}

// Training: shuffled epochs over the train crops, cosine learning rate, the same budget for every variant.
model.train();
let order: number[] = [];
const losses: number[] = [];
const started = performance.now();
const cpuStarted = process.cpuUsage();
for (let step = 0; step < steps; step++) {
  if (order.length < batch) order = rng.shuffle(Array.from({ length: train.labels.length }, (_, i) => i));
  const { images, labels } = batchOf(train, order.splice(0, batch));
  optimizer.lr = schedule(step);
  const { loss } = optimizationStep(
    () => ({ loss: tf.losses.softmaxCrossEntropy(labels, model.forward(images)) as tf.Scalar, components: {} }),
    variables,
    optimizer,
    0,
  );
  tf.dispose([images, labels]);
  losses.push(loss);
  if (step % 25 === 0 || step === steps - 1)
    console.log(
      `step ${step} loss ${loss.toFixed(4)} ${((performance.now() - started) / (step + 1)).toFixed(0)} ms/step`,
    );
}
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuStarted);
const load = loadavg()[0];

// Validation accuracy, batch norm in evaluation mode.
model.eval();
let correct = 0;
for (let start = 0; start < val.labels.length; start += 128) {
  const indices = Array.from({ length: Math.min(128, val.labels.length - start) }, (_, i) => start + i);
  const predicted = tf.tidy(() => tf.argMax(model.forward(tf.gather(val.images, indices)), 1));
  const classes = predicted.dataSync();
  predicted.dispose();
  indices.forEach((index, i) => (correct += classes[i] === val.labels[index] ? 1 : 0));
}

// Effective receptive field: d (sum over channels of the central unit) / d input, |.| summed over RGB, averaged.
const erfCount = Math.min(erfImages, val.labels.length);
const erf = tf.tidy(() => {
  const images = tf.slice(val.images, [0, 0, 0, 0], [erfCount, -1, -1, -1]);
  const centralUnit = (x: tf.Tensor) => {
    const features = model.features(x);
    const [, h, w] = features.shape;
    return tf.sum(tf.slice(features, [0, Math.floor(h / 2), Math.floor(w / 2), 0], [-1, 1, 1, -1]));
  };
  const gradient = tf.grad(centralUnit)(images);
  return tf.mean(tf.sum(tf.abs(gradient), 3), 0);
});
const erfValues = Array.from(erf.dataSync());
erf.dispose();

const result = {
  variant,
  seed,
  steps,
  batch,
  lr,
  predictorLrScale,
  predictors: predictors.size,
  width,
  cropSize: size,
  trainCrops: train.labels.length,
  valCrops: val.labels.length,
  parameters,
  accuracy: correct / val.labels.length,
  finalLoss: losses.slice(-20).reduce((a, b) => a + b, 0) / Math.min(20, losses.length),
  losses: losses.map((l) => Number(l.toFixed(4))),
  secondsPerStep: seconds / steps,
  cpuSecondsPerStep: (cpu.user + cpu.system) / 1e6 / steps,
  loadAverage: load,
  erf: { images: erfCount, size: [size, size], values: erfValues.map((v) => Number(v.toPrecision(4))) },
};
writeFileAtomic(join(values.out!, `${variant}-s${seed}.json`), JSON.stringify(result));
console.log(
  `${variant} seed ${seed}: accuracy ${(100 * result.accuracy).toFixed(1)}% on ${val.labels.length} crops, ` +
    `${parameters} parameters, ${(1000 * result.secondsPerStep).toFixed(0)} ms/step, load ${load.toFixed(1)}`,
);
tf.dispose([train.images, val.images]);
model.dispose();
