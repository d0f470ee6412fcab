/**
 * GeneralizedAttention '0010' (key saliency only, the best accuracy/speed trade-off in the paper) against '1111'
 * (all four terms) on wasm, input 1x32x32x256, 8 heads, kv_stride 2 (mmdet's empirical-attention setting),
 * forward and forward + backward (input and every parameter), interleaved round by round with the float64-verified
 * PyTorch port of mmcv's module (bench/reference.py, float32) by @deformjs/core's interleavedBench (ours at 1 and 2
 * wasm threads, PyTorch at 1 and 2 threads with OMP_WAIT_POLICY=PASSIVE); then tfjs's peak tensor bytes during one
 * call of each (tf.profile). Run after `pnpm build`: pnpm bench
 */
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { Rng, initBackend } from '@deformjs/core';
import { interleavedBench, type BenchCase } from '@deformjs/core/bench';
import { peakTensorMB, settled } from '@deformjs/core/node';
import { GeneralizedAttention } from '../src/index';

const TYPES = ['0010', '1111'] as const;

/** Each type's forward and forward + backward, as functions returning the tensors to read back. */
function workOf(): Record<string, () => tf.Tensor[]> {
  const x = tf.variable(new Rng(0).normalTensor([1, 32, 32, 256]));
  const work: Record<string, () => tf.Tensor[]> = {};
  for (const type of TYPES) {
    const module = new GeneralizedAttention({ inChannels: 256, numHeads: 8, kvStride: 2, attentionType: type, rng: 1 });
    tf.tidy(() => module.gamma.assign(tf.tensor1d([0.5])));
    const variables = [x, ...module.trainableVariables()];
    work[`${type} forward`] = () => [module.forward(x)];
    work[`${type} forward + backward`] = () => {
      const { value, grads } = tf.variableGrads(() => tf.sum(module.forward(x)) as tf.Scalar, variables);
      return [value, ...Object.values(grads)];
    };
  }
  return work;
}

const CASES = TYPES.flatMap((type) => [`${type} forward`, `${type} forward + backward`]);

await interleavedBench({
  file: 'attention',
  title: 'GeneralizedAttention, input 1x32x32x256, 8 heads, kv_stride 2 (PyTorch: the mmcv port)',
  cases: CASES,
  reference: { script: fileURLToPath(new URL('./reference.py', import.meta.url)) },
  ours: async () => {
    await initBackend('wasm');
    const work = workOf();
    return Object.fromEntries(CASES.map((name) => [name, settled(work[name])])) as Record<string, BenchCase>;
  },
});

await initBackend('wasm');
const work = workOf();
for (const name of CASES) console.log(`${name}: peak tensor memory ${await peakTensorMB(work[name])} MB`);
