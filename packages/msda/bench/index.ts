/**
 * msDeformAttn on wasm against the pure-PyTorch reference (grid_sample, Deformable DETR's CPU path), interleaved
 * round by round by @deformjs/core's interleavedBench (ours at 1 and 2 wasm threads, PyTorch at 1 and 2 threads
 * with OMP_WAIT_POLICY=PASSIVE). Decoder: Lq = 300 queries; encoder: Lq = S = 5440; levels 64x64, 32x32,
 * 16x16, 8x8; M = 8, D = 32, P = 4; forward and forward + backward (gradients of value, locations and weights).
 * Run after `pnpm build`: pnpm bench
 */
import * as tf from '@tensorflow/tfjs-core';
import { fileURLToPath } from 'node:url';
import { initBackend, Rng } from '@deformjs/core';
import { interleavedBench, type BenchCase } from '@deformjs/core/bench';
import { msDeformAttn } from '../src/index';

const LEVELS = [
  [64, 64],
  [32, 32],
  [16, 16],
  [8, 8],
];
const STARTS = [0, 4096, 5120, 5376];
const S = 5440;
const [M, D, P, L] = [8, 32, 4, 4];

function casesFor(name: string, lq: number): Record<string, BenchCase> {
  const rng = new Rng(0);
  const value = rng.normalTensor([1, S, M, D]);
  const locations = rng.uniformTensor([1, lq, M, L, P, 2]);
  const attention = tf.tidy(() => tf.reshape(tf.softmax(rng.normalTensor([1, lq, M, L * P])), [1, lq, M, L, P]));
  const gradOut = rng.normalTensor([1, lq, M * D]);
  const attn = (v: tf.Tensor, loc: tf.Tensor, a: tf.Tensor) => msDeformAttn(v, LEVELS, STARTS, loc, a);
  const backward = tf.grads(attn);
  return {
    [`${name} forward (Lq=${lq})`]: () => {
      const out = attn(value, locations, attention);
      out.dataSync();
      out.dispose();
    },
    [`${name} forward+backward (Lq=${lq})`]: () => {
      const grads = backward([value, locations, attention], gradOut);
      grads.forEach((g) => g.dataSync());
      tf.dispose(grads);
    },
  };
}

await interleavedBench({
  file: 'msda',
  title: 'msDeformAttn, levels 64/32/16/8, M 8, D 32, P 4: decoder Lq 300 and encoder Lq 5440',
  cases: [
    'decoder forward (Lq=300)',
    'decoder forward+backward (Lq=300)',
    `encoder forward (Lq=${S})`,
    `encoder forward+backward (Lq=${S})`,
  ],
  reference: { script: fileURLToPath(new URL('./reference.py', import.meta.url)) },
  ours: async () => {
    await initBackend('wasm');
    return { ...casesFor('decoder', 300), ...casesFor('encoder', S) };
  },
});
