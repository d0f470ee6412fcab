/**
 * The CNN side of the attention study (arXiv 1904.05873) at toy scale: a small ResNet-18 classifying shapes-world
 * object crops, with generalized attention and/or deformable convolution in its middle stages, as mmdet's
 * empirical-attention configurations place them in a detector's ResNet: plain, attention '0010' (key content
 * only), '1111' (all four terms), DCN (modulated deformable 3x3 convs) and '0010' + DCN. Each run writes
 * <out>/<variant>-s<seed>.json atomically; existing runs are skipped. Then `npx tsx scripts/cnn_report.ts`.
 * Usage (in packages/attention): npx tsx scripts/cnn_study.ts [--seeds 0,1] [--steps 100] [--only plain,dcn]
 */
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { Module, Rng, initBackend, type Conv3x3Factory, type Layer } from '@deformjs/core';
import { UsageError, runCli, writeFileAtomic } from '@deformjs/core/node';
import { shapeCrops, type CropSet } from '@deformjs/datasets';
import { deformConv3x3 } from '@deformjs/dcn';
import { AdamW, Linear, ResNet, Sequential, cosineSchedule, optimizationStep, plainConv3x3 } from '@deformjs/nn';
import { GeneralizedAttention } from '../src/index';

export const CNN_VARIANTS = {
  plain: 'plain 3x3 convs',
  '0010': "GeneralizedAttention '0010' (key content only)",
  '1111': "GeneralizedAttention '1111' (all four terms)",
  dcn: 'DCNv2 3x3 convs',
  '0010+dcn': "DCNv2 3x3 convs and GeneralizedAttention '0010'",
} as const;
export type CnnVariant = keyof typeof CNN_VARIANTS;

/**
 * Where the variants change the network. mmdet puts attention in the last two stages (C4, C5) and DCN in C3-C5 of
 * a detector's ResNet-50; on 48 px crops C5 is a 2 x 2 map (one key at kvStride 2), so both move one stage down:
 * attention in layer3 (C4, 3 x 3), DCN in layer2 and layer3 (C3, C4: 6 x 6 and 3 x 3).
 */
const ATTENTION_STAGES = [3];
const CLASSES = 5;

/**
 * The ResNet's 3x3 conv factory for a variant. Attention goes after each block's second 3x3 conv (BasicBlock
 * builds conv1, then conv2), as mmdet's plugin follows a bottleneck's 3x3 conv; with mmdet's settings: 8 heads,
 * keys and values from every 2nd pixel, gamma 0 at the start (each block starts as the plain one).
 */
function conv3x3For(variant: CnnVariant): Conv3x3Factory {
  const conv: Conv3x3Factory = variant.includes('dcn') ? deformConv3x3({ stages: ['C3', 'C4'] }) : plainConv3x3;
  const attentionType = variant.startsWith('0010') ? '0010' : variant === '1111' ? '1111' : null;
  if (!attentionType) return conv;
  const built = new Set<string>();
  return (ctx) => {
    const block = `${ctx.stage}.${ctx.block}`;
    const isConv2 = built.has(block);
    built.add(block);
    if (!ATTENTION_STAGES.includes(ctx.stage) || !isConv2) return conv(ctx);
    const attention = new GeneralizedAttention({
      inChannels: ctx.outChannels,
      numHeads: 8,
      kvStride: 2,
      attentionType,
      rng: ctx.rng,
    });
    return new Sequential(conv(ctx), attention);
  };
}

/** ResNet-18 of width 16 (stages 16, 32, 64, 128 channels), global average pool, a linear classifier. */
export class CropClassifier extends Module implements Layer {
  readonly backbone: ResNet;
  readonly fc: Linear;
  constructor(variant: CnnVariant, seed: number) {
    super();
    const conv3x3 = conv3x3For(variant);
    this.backbone = this.addModule(
      'backbone',
      new ResNet({ depth: 18, width: 16, conv3x3, seed, returnFeatures: ['C5'] }),
    );
    this.fc = this.addModule('fc', new Linear(new Rng(seed + 1), 128, CLASSES));
  }
  forward(images: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.fc.forward(tf.mean(this.backbone.forward(images).C5!, [1, 2])));
  }
}

const usage = `cnn_study: trains the crop classifier for every variant and seed
  --seeds 0,1     seeds (comma separated)
  --steps 100     training steps per run (batch 16)
  --only a,b      only these variants (${Object.keys(CNN_VARIANTS).join(', ')})
  --data runs/data  the generated shapes set's cache
  --out runs/cnn  output folder`;

process.exitCode = await runCli(
  {
    name: 'cnn_study',
    usage,
    packageJson: new URL('../package.json', import.meta.url),
    options: {
      seeds: { type: 'string', default: '0,1' },
      steps: { type: 'string', default: '100' },
      only: { type: 'string' },
      data: { type: 'string', default: 'runs/data' },
      out: { type: 'string', default: 'runs/cnn' },
    },
  },
  process.argv.slice(2),
  async ({ values, flags }) => {
    const seeds = values.seeds!.split(',').map((s) => {
      if (!/^\d+$/.test(s)) throw new UsageError(`cnn_study: --seeds expects integers like 0,1, got ${values.seeds}`);
      return Number(s);
    });
    const steps = flags.int('steps', 1);
    const variants = (values.only?.split(',') ?? Object.keys(CNN_VARIANTS)) as CnnVariant[];
    for (const v of variants) if (!(v in CNN_VARIANTS)) throw new UsageError(`cnn_study: --only: unknown variant ${v}`);
    await initBackend('wasm');
    // 600 generated images of 96 px, crops of 48 px (the Deformable Kernels study's set, larger crops).
    const data = { cacheDir: values.data!, count: 600, imageSize: 96, size: 48 };
    const train = await shapeCrops(data, 'train');
    const val = await shapeCrops(data, 'val');
    for (const seed of seeds) {
      for (const variant of variants) {
        const file = join(values.out!, `${variant}-s${seed}.json`);
        if (existsSync(file)) continue;
        const record = run(variant, seed, steps, train, val);
        writeFileAtomic(file, `${JSON.stringify(record)}\n`);
        console.log(
          `${new Date().toISOString().slice(11, 19)} ${variant} s${seed}: accuracy ${record.accuracy.toFixed(3)}, ` +
            `${(steps / record.secondsTraining).toFixed(2)} it/s, ${record.cpuSecondsTraining.toFixed(0)} CPU s, ` +
            `load ${record.loadBefore.join(' ')}`,
        );
      }
    }
    tf.dispose([train.images, val.images]);
  },
);

function run(variant: CnnVariant, seed: number, steps: number, train: CropSet, val: CropSet) {
  const loadBefore = loadavg();
  const model = new CropClassifier(variant, seed);
  const variables = model.trainableVariables();
  const parameters = variables.reduce((n, v) => n + v.size, 0);
  // DCN's offset convs learn at a tenth of the rate (as in the Deformable Kernels study and Deformable DETR).
  const offsets = new Set(
    model
      .namedParameters()
      .filter(([name]) => /conv_offset/.test(name))
      .map(([, p]) => p.variable),
  );
  const lr = 3e-3;
  const optimizer = new AdamW(
    [{ params: variables.filter((v) => !offsets.has(v)) }, { params: [...offsets], lrScale: 0.1 }].filter(
      (group) => group.params.length > 0,
    ),
    { lr, weightDecay: 1e-4 },
  );
  const schedule = cosineSchedule(lr, steps);
  const rng = new Rng(1000 + seed);
  const batch = 16;
  let order: number[] = [];
  const loss: [number, number][] = [];
  model.train();
  const started = performance.now();
  const cpuStarted = process.cpuUsage();
  for (let step = 0; step < steps; step++) {
    if (order.length < batch) order = rng.shuffle(Array.from({ length: train.labels.length }, (_, i) => i));
    const indices = order.splice(0, batch);
    const images = tf.gather(train.images, indices);
    const labels = tf.oneHot(
      tf.tensor1d(
        indices.map((i) => train.labels[i]),
        'int32',
      ),
      CLASSES,
    );
    optimizer.lr = schedule(step);
    const result = optimizationStep(
      () => ({ loss: tf.losses.softmaxCrossEntropy(labels, model.forward(images)) as tf.Scalar, components: {} }),
      variables,
      optimizer,
      0,
    );
    tf.dispose([images, labels]);
    loss.push([step, result.loss]);
  }
  const secondsTraining = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuStarted);
  // Validation accuracy with batch norm in evaluation mode, and the inference time per crop.
  model.eval();
  let correct = 0;
  const evalStarted = performance.now();
  for (let start = 0; start < val.labels.length; start += 128) {
    const indices = Array.from({ length: Math.min(128, val.labels.length - start) }, (_, i) => start + i);
    const predicted = tf.tidy(() => tf.argMax(model.forward(tf.gather(val.images, indices)), 1).dataSync());
    indices.forEach((index, i) => (correct += predicted[i] === val.labels[index] ? 1 : 0));
  }
  const msPerCrop = (performance.now() - evalStarted) / val.labels.length;
  optimizer.dispose();
  model.dispose();
  return {
    variant,
    seed,
    steps,
    batch,
    parameters,
    trainCrops: train.labels.length,
    valCrops: val.labels.length,
    accuracy: correct / val.labels.length,
    msPerCrop,
    secondsTraining,
    cpuSecondsTraining: (cpu.user + cpu.system) / 1e6,
    loadBefore,
    loadAfter: loadavg(),
    loss,
  };
}
