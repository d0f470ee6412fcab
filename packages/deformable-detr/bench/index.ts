/**
 * Deformable DETR, small configuration (DEFORMABLE_DETR_SMALL), one 320x320 image, wasm: training iterations
 * per second (forward, Hungarian matching, set criterion with auxiliary losses, backward, clipping, AdamW)
 * and inference latency, side by side with the same model in PyTorch (bench/reference.py, float32, 2
 * threads; its training step has no matcher); plain DETR of the same size for context; and the tensor count
 * across 200 training steps, which must stay flat.
 * Run under the shared lock: flock /tmp/deformjs-bench.lock pnpm bench
 */
import * as tf from '@tensorflow/tfjs-core';
import { fileURLToPath } from 'node:url';
import { initBackend, Rng } from '@deformjs/core';
import { bench, compareRow, reportBench, runReferenceScript } from '@deformjs/core/node';
import { AdamW } from '@deformjs/nn';
import {
  DEFORMABLE_DETR_SMALL,
  DETR,
  DETR_SMALL,
  DeformableDETR,
  SetCriterion,
  disposeOutputs,
  paramGroups,
  trainStep,
  type DetectionModel,
  type TrainBatch,
} from '../src/index';

const SIZE = 320;
const LEAK_STEPS = 200;

function batchOf(rng: Rng): TrainBatch {
  const boxes = Float32Array.from({ length: 12 }, (_, i) =>
    i % 4 < 2 ? rng.uniform(0.25, 0.75) : rng.uniform(0.05, 0.3),
  );
  return {
    images: rng.normalTensor([1, SIZE, SIZE, 3]),
    mask: tf.zeros([1, SIZE, SIZE], 'bool'),
    targets: [{ boxes, labels: Int32Array.of(0, 2, 4) }],
  };
}

async function timeModel(model: DetectionModel, criterion: SetCriterion, batch: TrainBatch) {
  const optimizer = new AdamW(paramGroups(model), { lr: 1e-4, weightDecay: 1e-4 });
  const train = await bench('train step', () => trainStep(model, criterion, optimizer, batch), { warmup: 2, runs: 7 });
  model.eval();
  const inference = await bench('inference', () => {
    const out = model.forward(batch.images, batch.mask);
    out.predLogits.dataSync();
    disposeOutputs(out);
  });
  return { train, inference, optimizer };
}

async function main(): Promise<void> {
  await initBackend('wasm');
  const rng = new Rng(0);
  const batch = batchOf(rng);
  const reference = runReferenceScript(fileURLToPath(new URL('./reference.py', import.meta.url)), [String(SIZE)]) as {
    inference_ms: number;
    train_step_ms: number;
  } | null;

  const model = new DeformableDETR(DEFORMABLE_DETR_SMALL);
  const criterion = new SetCriterion({ numClasses: DEFORMABLE_DETR_SMALL.numClasses });
  const { train, inference, optimizer } = await timeModel(model, criterion, batch);

  // Tensor count over 200 more training steps: it must not grow.
  model.train();
  const counts: number[] = [];
  for (let i = 0; i < LEAK_STEPS; i++) {
    trainStep(model, criterion, optimizer, batch);
    counts.push(tf.memory().numTensors);
  }
  const flat = counts.every((c) => c === counts[0]);

  const detr = new DETR(DETR_SMALL);
  const detrTimes = await timeModel(
    detr,
    new SetCriterion({ numClasses: DETR_SMALL.numClasses, kind: 'softmax' }),
    batch,
  );

  const itPerSec = (ms: number) => Math.round((1000 / ms) * 100) / 100;
  reportBench('deformable-detr', [
    compareRow(`Deformable DETR small, train step 1x${SIZE}x${SIZE}`, train, reference?.train_step_ms ?? null, {
      itPerSec: itPerSec(train.median),
    }),
    compareRow(`Deformable DETR small, inference 1x${SIZE}x${SIZE}`, inference, reference?.inference_ms ?? null, {
      itPerSec: itPerSec(inference.median),
    }),
    compareRow(`DETR small, train step 1x${SIZE}x${SIZE}`, detrTimes.train, null, {
      itPerSec: itPerSec(detrTimes.train.median),
    }),
    compareRow(`DETR small, inference 1x${SIZE}x${SIZE}`, detrTimes.inference, null, {
      itPerSec: itPerSec(detrTimes.inference.median),
    }),
  ]);
  console.log(
    `tensor count over ${LEAK_STEPS} training steps: first ${counts[0]}, min ${Math.min(...counts)}, max ${Math.max(...counts)}, last ${counts[counts.length - 1]} (${flat ? 'flat' : 'NOT FLAT'})`,
  );
  if (!flat) process.exitCode = 1;
  [optimizer, detrTimes.optimizer].forEach((o) => o.dispose());
  model.dispose();
  detr.dispose();
  tf.dispose([batch.images, batch.mask]);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
