import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, Rng } from '@deformjs/core';
import { bench, compareRow, reportBench, runReferenceScript } from '@deformjs/core/node';
import { autoSegLoss, VOC_PRESETS, type TargetMetric } from '../src';

/** Loss forward + backward to the logits, ours (wasm) against the official PyTorch loss (CPU, 2 threads). */

const CASES: Array<{ name: string; metric: TargetMetric; shape: [number, number, number, number]; tolerance: number }> =
  [
    { name: 'mIoU 8x64x64x21', metric: 'mIoU', shape: [8, 64, 64, 21], tolerance: 5 },
    { name: 'BIoU 8x64x64x21', metric: 'BIoU', shape: [8, 64, 64, 21], tolerance: 5 },
    { name: 'BF1 8x64x64x21', metric: 'BF1', shape: [8, 64, 64, 21], tolerance: 5 },
    { name: 'BF1 2x128x128x21', metric: 'BF1', shape: [2, 128, 128, 21], tolerance: 5 },
    { name: 'mAcc 8x64x64x21', metric: 'mAcc', shape: [8, 64, 64, 21], tolerance: 5 },
  ];

const backend = await initBackend(process.env.DEFORMJS_BACKEND === 'cpu' ? 'cpu' : 'wasm');
const reference = runReferenceScript(fileURLToPath(new URL('./reference.py', import.meta.url)), [
  JSON.stringify(CASES.map((c) => ({ ...c, controlPoints: VOC_PRESETS[c.metric] }))),
]) as Record<string, number> | null;

const rows = [];
const rng = new Rng(0);
for (const c of CASES) {
  const [B, H, W, K] = c.shape;
  const logits = rng.normalTensor(c.shape);
  const labels = tf.tensor3d(
    Int32Array.from({ length: B * H * W }, () => rng.int(K)),
    [B, H, W],
    'int32',
  );
  // Reading one number back finishes the work (returning a whole typed array from tidy would make tidy walk it).
  const step = () => {
    tf.tidy(() => {
      const grad = tf.grad((l: tf.Tensor) =>
        autoSegLoss(l, labels, { metric: c.metric, controlPoints: VOC_PRESETS[c.metric], tolerance: c.tolerance }),
      )(logits);
      tf.sum(grad).dataSync();
    });
  };
  const ours = await bench(c.name, step);
  rows.push(compareRow(c.name, ours, reference?.[c.name] ?? null, { backend }));
  tf.dispose([logits, labels]);
}
reportBench('loss-forward-backward', rows);
