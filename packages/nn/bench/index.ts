/**
 * @deformjs/nn on wasm against PyTorch / scipy: Hungarian matching 300 x 100 (scipy.optimize.linear_sum_assignment,
 * ten per case), ResNet-50 forward on 1x512x512x3 (C2..C5, eval), ResNet-18 forward + backward on 1x320x320x3 (train
 * mode, gradients of every parameter), plus the small segmenter's training step on 8 x 64 x 64 images (ours only).
 * Interleaved round by round by @deformjs/core's interleavedBench: ours at 1 and 2 wasm threads, PyTorch at 1 and 2
 * threads with OMP_WAIT_POLICY=PASSIVE. Run after `pnpm build`: pnpm bench
 */
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { Rng, initBackend } from '@deformjs/core';
import { interleavedBench } from '@deformjs/core/bench';
import { linearSumAssignment } from '@deformjs/metrics';
import { AdamW, createSegmenter, resnet } from '../src/index';

await interleavedBench({
  file: 'nn',
  title: 'nn: matching (scipy), ResNet-50 forward and ResNet-18 forward + backward (torchvision)',
  cases: [
    'matching 300x100 (x10)',
    'ResNet-50 forward 1x512x512x3',
    'ResNet-18 forward + backward 1x320x320x3',
    'segmenter train step 8x64x64 (R18 w16 + ASPP)',
  ],
  reference: { script: fileURLToPath(new URL('./reference.py', import.meta.url)) },
  ours: async () => {
    await initBackend('wasm');
    const rng = new Rng(0);
    const cost = Float64Array.from({ length: 300 * 100 }, () => rng.next());

    const r50 = resnet({ depth: 50 }).eval();
    const x50 = rng.normalTensor([1, 512, 512, 3]);
    const r18 = resnet({ depth: 18, returnFeatures: ['C5'] }).train();
    const x18 = rng.normalTensor([1, 320, 320, 3]);

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
    return {
      'matching 300x100 (x10)': () => {
        for (let i = 0; i < 10; i++) linearSumAssignment(cost, 300, 100);
      },
      'ResNet-50 forward 1x512x512x3': () => {
        const all = Object.values(r50.forward(x50)) as tf.Tensor[];
        all.forEach((t) => t.dataSync());
        tf.dispose(all);
      },
      'ResNet-18 forward + backward 1x320x320x3': () => {
        const { value, grads } = tf.variableGrads(
          () => tf.sum(r18.forward(x18).C5!) as tf.Scalar,
          r18.trainableVariables(),
        );
        Object.values(grads).forEach((g) => g.dataSync());
        tf.dispose([value, ...Object.values(grads)]);
      },
      'segmenter train step 8x64x64 (R18 w16 + ASPP)': () => {
        const { value, grads } = tf.variableGrads(
          () => tf.losses.softmaxCrossEntropy(labels, tf.reshape(seg.forward(images), [-1, 3])) as tf.Scalar,
          seg.trainableVariables(),
        );
        optimizer.step(grads);
        value.dataSync();
        tf.dispose([value, ...Object.values(grads)]);
      },
    };
  },
});
