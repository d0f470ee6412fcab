/**
 * @deformjs/nn on wasm against PyTorch / scipy on the same CPU (2 threads), in one run:
 * Hungarian matching 300 x 100 (scipy.optimize.linear_sum_assignment), ResNet-50 forward on 1x512x512x3
 * (C2..C5, eval), ResNet-18 forward + backward on 1x320x320x3 (train mode, gradients of every parameter),
 * plus the small segmenter's training step on 8 x 64 x 64 images (ours only).
 * Run with `flock /tmp/deformjs-bench.lock pnpm bench` from this package.
 */
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { Rng, initBackend } from '@deformjs/core';
import { bench, compareRow, reportBench, runReferenceScript } from '@deformjs/core/node';
import { linearSumAssignment } from '@deformjs/metrics';
import { AdamW, createSegmenter, resnet, type ResNet } from '../src/index';

const WARMUP = 2;
const RUNS = 7;

interface Reference {
  torch: string;
  scipy: string;
  matching: number;
  resnet50Forward: number;
  resnet18ForwardBackward: number;
}

const backend = await initBackend('wasm');
const rng = new Rng(0);

const cost = Float64Array.from({ length: 300 * 100 }, () => rng.next());
const matching = await bench('matching 300x100', () => linearSumAssignment(cost, 300, 100), { warmup: 50, runs: 101 });

const features = (model: ResNet, x: tf.Tensor) => {
  const out = model.forward(x);
  const all = Object.values(out) as tf.Tensor[];
  all.forEach((t) => t.dataSync());
  tf.dispose(all);
};
const r50 = resnet({ depth: 50 }).eval();
const x50 = rng.normalTensor([1, 512, 512, 3]);
const resnet50Forward = await bench('resnet50 forward', () => features(r50, x50), { warmup: WARMUP, runs: RUNS });
r50.dispose();

const r18 = resnet({ depth: 18, returnFeatures: ['C5'] }).train();
const x18 = rng.normalTensor([1, 320, 320, 3]);
const resnet18ForwardBackward = await bench(
  'resnet18 forward + backward',
  () => {
    const { value, grads } = tf.variableGrads(
      () => tf.sum(r18.forward(x18).C5!) as tf.Scalar,
      r18.trainableVariables(),
    );
    Object.values(grads).forEach((g) => g.dataSync());
    tf.dispose([value, ...Object.values(grads)]);
  },
  { warmup: WARMUP, runs: RUNS },
);
r18.dispose();

const seg = createSegmenter({ numClasses: 3 });
const optimizer = new AdamW(seg.trainableVariables(), { lr: 1e-3 });
const images = rng.normalTensor([8, 64, 64, 3]);
const labels = tf.oneHot(
  tf.tensor1d(
    Int32Array.from({ length: 8 * 64 * 64 }, () => rng.int(3)),
    'int32',
  ),
  3,
);
const segmenterStep = await bench(
  'segmenter train step',
  () => {
    const { value, grads } = tf.variableGrads(
      () => tf.losses.softmaxCrossEntropy(labels, tf.reshape(seg.forward(images), [-1, 3])) as tf.Scalar,
      seg.trainableVariables(),
    );
    optimizer.step(grads);
    value.dataSync();
    tf.dispose([value, ...Object.values(grads)]);
  },
  { warmup: WARMUP, runs: RUNS },
);

const reference = runReferenceScript(fileURLToPath(new URL('./reference.py', import.meta.url)), [
  String(WARMUP),
  String(RUNS),
]) as Reference | null;
const row = (name: string, ours: Awaited<ReturnType<typeof bench>>, ref: number | null, what: string) =>
  compareRow(name, ours, ref, {
    speedup: ref ? Math.round((ref / ours.median) * 100) / 100 : null,
    ours: `deformjs ${backend}`,
    reference: what,
  });
reportBench('nn', [
  row(
    'matching 300x100',
    matching,
    reference?.matching ?? null,
    `scipy ${reference?.scipy ?? 'absent'} linear_sum_assignment`,
  ),
  row(
    'ResNet-50 forward 1x512x512x3',
    resnet50Forward,
    reference?.resnet50Forward ?? null,
    `torchvision resnet50 (torch ${reference?.torch ?? 'absent'}, 2 threads)`,
  ),
  row(
    'ResNet-18 forward + backward 1x320x320x3',
    resnet18ForwardBackward,
    reference?.resnet18ForwardBackward ?? null,
    `torchvision resnet18 (torch ${reference?.torch ?? 'absent'}, 2 threads)`,
  ),
  row('segmenter train step 8x64x64 (R18 w16 + ASPP)', segmenterStep, null, 'none'),
]);
tf.dispose([x50, x18, images, labels]);
seg.dispose();
optimizer.dispose();
