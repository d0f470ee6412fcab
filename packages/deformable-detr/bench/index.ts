/**
 * Deformable DETR, small configuration (DEFORMABLE_DETR_SMALL), one 320x320 image: a training step (forward,
 * Hungarian matching, set criterion with auxiliary losses, backward, clipping, AdamW) and inference, interleaved
 * round by round with the same model in PyTorch (bench/reference.py, float32; its training step has no matcher)
 * by @deformjs/core's interleavedBench: ours at 1 and 2 wasm threads, PyTorch at 1 and 2 threads with
 * OMP_WAIT_POLICY=PASSIVE, persistent processes, median of the per-round ratios. Plain DETR of the same size runs
 * beside it for context (ours only). Run after `pnpm build`: pnpm bench
 */
import * as tf from '@tensorflow/tfjs-core';
import { fileURLToPath } from 'node:url';
import { initBackend, Rng } from '@deformjs/core';
import { interleavedBench } from '@deformjs/core/bench';
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

/** A model's training step and inference on one batch. */
function casesOf(model: DetectionModel, criterion: SetCriterion, batch: TrainBatch) {
  const optimizer = new AdamW(paramGroups(model), { lr: 1e-4, weightDecay: 1e-4 });
  return {
    train: () => {
      model.train();
      trainStep(model, criterion, optimizer, batch);
    },
    inference: () => {
      model.eval();
      const out = model.forward(batch.images, batch.mask);
      out.predLogits.dataSync();
      disposeOutputs(out);
    },
  };
}

await interleavedBench({
  file: 'deformable-detr',
  title: `Deformable DETR small, 1x${SIZE}x${SIZE}: training step (ours: with matching) and inference`,
  cases: [
    'Deformable DETR small, train step',
    'Deformable DETR small, inference',
    'DETR small, train step',
    'DETR small, inference',
  ],
  reference: { script: fileURLToPath(new URL('./reference.py', import.meta.url)), args: [String(SIZE)] },
  ours: async () => {
    await initBackend('wasm');
    const batch = batchOf(new Rng(0));
    const deformable = casesOf(
      new DeformableDETR(DEFORMABLE_DETR_SMALL),
      new SetCriterion({ numClasses: DEFORMABLE_DETR_SMALL.numClasses }),
      batch,
    );
    const detr = casesOf(
      new DETR(DETR_SMALL),
      new SetCriterion({ numClasses: DETR_SMALL.numClasses, kind: 'softmax' }),
      batch,
    );
    return {
      'Deformable DETR small, train step': deformable.train,
      'Deformable DETR small, inference': deformable.inference,
      'DETR small, train step': detr.train,
      'DETR small, inference': detr.inference,
    };
  },
});
