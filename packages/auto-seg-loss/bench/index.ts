/**
 * Loss forward + backward to the logits, VOC presets, tolerance 5: ours (wasm) against the official loss in
 * PyTorch (bench/reference.py, float32), interleaved round by round by @deformjs/core's interleavedBench (ours at 1
 * and 2 wasm threads, PyTorch at 1 and 2 threads with OMP_WAIT_POLICY=PASSIVE). Run after `pnpm build`: pnpm bench
 */
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, Rng } from '@deformjs/core';
import { interleavedBench, type BenchCase } from '@deformjs/core/bench';
import { autoSegLoss, VOC_PRESETS, type TargetMetric } from '../src';

const CASES: Array<{ name: string; metric: TargetMetric; shape: [number, number, number, number]; tolerance: number }> =
  [
    { name: 'mIoU 8x64x64x21', metric: 'mIoU', shape: [8, 64, 64, 21], tolerance: 5 },
    { name: 'BIoU 8x64x64x21', metric: 'BIoU', shape: [8, 64, 64, 21], tolerance: 5 },
    { name: 'BF1 8x64x64x21', metric: 'BF1', shape: [8, 64, 64, 21], tolerance: 5 },
    { name: 'BF1 2x128x128x21', metric: 'BF1', shape: [2, 128, 128, 21], tolerance: 5 },
    { name: 'mAcc 8x64x64x21', metric: 'mAcc', shape: [8, 64, 64, 21], tolerance: 5 },
  ];

await interleavedBench({
  file: 'loss-forward-backward',
  title: 'AutoSegLoss forward + backward to the logits, VOC presets, tolerance 5 (PyTorch: the official loss)',
  cases: CASES.map((c) => c.name),
  reference: {
    script: fileURLToPath(new URL('./reference.py', import.meta.url)),
    args: [JSON.stringify(CASES.map((c) => ({ ...c, controlPoints: VOC_PRESETS[c.metric] })))],
  },
  ours: async () => {
    await initBackend('wasm');
    const rng = new Rng(0);
    const cases: Record<string, BenchCase> = {};
    for (const c of CASES) {
      const [B, H, W, K] = c.shape;
      const logits = rng.normalTensor(c.shape);
      const labels = tf.tensor3d(
        Int32Array.from({ length: B * H * W }, () => rng.int(K)),
        [B, H, W],
        'int32',
      );
      const options = { metric: c.metric, controlPoints: VOC_PRESETS[c.metric], tolerance: c.tolerance };
      // The whole gradient is read back, as PyTorch's backward leaves it written in logits.grad.
      cases[c.name] = () => {
        const grad = tf.grad((l: tf.Tensor) => autoSegLoss(l, labels, options))(logits);
        grad.dataSync();
        grad.dispose();
      };
    }
    return cases;
  },
});
