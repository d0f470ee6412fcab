/**
 * FASTER_RCNN_SMALL on one 128x128 image, wasm: a training step (forward, anchor and RoI matching and sampling,
 * losses, backward, AdamW) and inference (proposals, box head, per-class NMS), interleaved round by round with the
 * same model in PyTorch (bench/reference.py: torchvision's FasterRCNN, float32) by core's interleavedBench: ours at
 * 1 and 2 wasm threads, PyTorch at 1 and 2 threads with OMP_WAIT_POLICY=PASSIVE, persistent processes, median of
 * the per-round ratios. Our DCNv2 c3-c5 + mdpool variant runs beside it (torchvision has no counterpart). Each of our
 * processes first checks that the tensor count stays flat across training steps.
 * Run after `pnpm build`: pnpm bench
 */
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, Rng } from '@deformjs/core';
import { interleavedBench } from '@deformjs/core/bench';
import { AdamW } from '@deformjs/nn';
import { FASTER_RCNN_SMALL, FasterRCNN, trainStep, type FasterRcnnBatch, type FasterRcnnConfig } from '../src/index';

const SIZE = 128;
const LEAK_STEPS = 10;

function batchOf(rng: Rng): FasterRcnnBatch {
  const scale = SIZE / 128;
  return {
    images: rng.normalTensor([1, SIZE, SIZE, 3]),
    imageSizes: [[SIZE, SIZE]],
    targets: [
      {
        boxes: Float32Array.from([10, 12, 50, 60, 60, 30, 120, 90, 5, 80, 30, 120], (v) => v * scale),
        labels: Int32Array.from([0, 2, 4]),
      },
    ],
  };
}

/** A model's training step and inference on one batch. */
function casesOf(config: FasterRcnnConfig, batch: FasterRcnnBatch) {
  const model = new FasterRCNN(config);
  const optimizer = new AdamW([{ params: model.trainableVariables() }], { lr: 1e-4, weightDecay: 1e-4 });
  return {
    train: () => trainStep(model, optimizer, batch),
    inference: () => {
      model.eval();
      model.detect(batch.images, batch.imageSizes);
    },
  };
}

const DCN: FasterRcnnConfig = {
  ...FASTER_RCNN_SMALL,
  dcn: { stages: 'c3-c5', version: 2, deformGroups: 1 },
  roi: { ...FASTER_RCNN_SMALL.roi, pooling: 'mdpool' },
};

await interleavedBench({
  file: 'dcnv2-rcnn',
  title: `Faster R-CNN small (FASTER_RCNN_SMALL), 1x${SIZE}x${SIZE}: training step and inference`,
  cases: [
    'Faster R-CNN small, train step',
    'Faster R-CNN small, inference',
    'DCNv2 c3-c5 + mdpool, train step',
    'DCNv2 c3-c5 + mdpool, inference',
  ],
  reference: { script: fileURLToPath(new URL('./reference.py', import.meta.url)), args: [String(SIZE)] },
  ours: async () => {
    await initBackend('wasm');
    const batch = batchOf(new Rng(0));
    const plain = casesOf(FASTER_RCNN_SMALL, batch);
    const dcn = casesOf(DCN, batch);
    const counts: number[] = [];
    for (let i = 0; i < LEAK_STEPS; i++) {
      plain.train();
      counts.push(tf.memory().numTensors);
    }
    if (counts.some((c) => c !== counts[0])) {
      throw new Error(`tensor count over ${LEAK_STEPS} training steps is not flat: ${counts.join(', ')}`);
    }
    return {
      'Faster R-CNN small, train step': plain.train,
      'Faster R-CNN small, inference': plain.inference,
      'DCNv2 c3-c5 + mdpool, train step': dcn.train,
      'DCNv2 c3-c5 + mdpool, inference': dcn.inference,
    };
  },
});
