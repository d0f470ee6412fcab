/**
 * GeneralizedAttention '0010' (key saliency only, the best accuracy/speed trade-off in the paper) against '1111'
 * (all four terms) on wasm, input 1x32x32x256, 8 heads, kv_stride 2 (mmdet's empirical-attention setting),
 * forward and forward + backward (input and every parameter), side by side with the float64-verified PyTorch
 * port of mmcv's module (bench/reference.py, float32, 2 threads) in the same run. Memory: tfjs's peak tensor
 * bytes during one call (tf.profile).
 * Run with `flock /tmp/deformjs-bench.lock pnpm bench` from this package.
 */
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { Rng, initBackend } from '@deformjs/core';
import {
  bench,
  compareRow,
  reportBench,
  runReferenceScript,
  type BenchResult,
  settled,
  peakTensorMB,
} from '@deformjs/core/node';
import { GeneralizedAttention } from '../src/index';

const WARMUP = 2;
const RUNS = 7;
const TYPES = ['0010', '1111'] as const;

interface Reference {
  torch: string;
  '0010': { forward: number; forwardBackward: number };
  '1111': { forward: number; forwardBackward: number };
}

const backend = await initBackend('wasm');
const x = tf.variable(new Rng(0).normalTensor([1, 32, 32, 256]));

const measured: Record<
  string,
  { forward: BenchResult; forwardBackward: BenchResult; forwardMB: number; forwardBackwardMB: number }
> = {};
for (const type of TYPES) {
  const module = new GeneralizedAttention({ inChannels: 256, numHeads: 8, kvStride: 2, attentionType: type, rng: 1 });
  tf.tidy(() => module.gamma.assign(tf.tensor1d([0.5])));
  const variables = [x, ...module.trainableVariables()];
  const forward = () => module.forward(x);
  const forwardBackward = () => {
    const { value, grads } = tf.variableGrads(() => tf.sum(module.forward(x)) as tf.Scalar, variables);
    return [value, ...Object.values(grads)];
  };
  measured[type] = {
    forward: await bench(`${type} forward`, settled(forward), { warmup: WARMUP, runs: RUNS }),
    forwardBackward: await bench(`${type} forward + backward`, settled(forwardBackward), {
      warmup: WARMUP,
      runs: RUNS,
    }),
    forwardMB: await peakTensorMB(forward),
    forwardBackwardMB: await peakTensorMB(forwardBackward),
  };
  module.dispose();
}
x.dispose();

const reference = runReferenceScript(fileURLToPath(new URL('./reference.py', import.meta.url)), [
  String(WARMUP),
  String(RUNS),
]) as Reference | null;
const rows = TYPES.flatMap((type) => {
  const m = measured[type];
  const ref = reference?.[type];
  const speedup = (ours: BenchResult, theirs: number | undefined) =>
    theirs ? Math.round((theirs / ours.median) * 100) / 100 : null;
  return [
    compareRow(`${type} forward`, m.forward, ref?.forward ?? null, {
      speedup: speedup(m.forward, ref?.forward),
      peakTensorMB: m.forwardMB,
    }),
    compareRow(`${type} forward + backward`, m.forwardBackward, ref?.forwardBackward ?? null, {
      speedup: speedup(m.forwardBackward, ref?.forwardBackward),
      peakTensorMB: m.forwardBackwardMB,
    }),
  ];
});
console.log(
  `GeneralizedAttention, input 1x32x32x256, 8 heads, kv_stride 2; ours: deformjs ${backend}; reference: mmcv port in PyTorch ${reference?.torch ?? '(absent)'}, float32, 2 threads; ratio = ours / reference`,
);
reportBench('attention', rows);
