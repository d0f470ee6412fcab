/**
 * msDeformAttn on wasm against the pure-PyTorch reference (grid_sample, 2 threads) in the same run.
 * Decoder: Lq = 300 queries; encoder: Lq = S = 5440; levels 64x64, 32x32, 16x16, 8x8; M = 8, D = 32, P = 4.
 * Run under the shared lock: flock /tmp/deformjs-bench.lock pnpm bench
 */
import * as tf from '@tensorflow/tfjs-core';
import { fileURLToPath } from 'node:url';
import { initBackend, Rng } from '@deformjs/core';
import { bench, compareRow, reportBench, runReferenceScript } from '@deformjs/core/node';
import type { ComparisonRow } from '@deformjs/core/node';
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

interface Reference {
  decoder: { forward_ms: number; forward_backward_ms: number };
  encoder: { forward_ms: number; forward_backward_ms: number };
}

const MB = 1 << 20;
let peakRss = 0;
let peakHeap = 0;
function sampleMemory(): void {
  const m = process.memoryUsage();
  peakRss = Math.max(peakRss, m.rss);
  peakHeap = Math.max(peakHeap, m.heapUsed);
}

function wasmHeapBytes(): number {
  const backend = tf.backend() as unknown as { wasm?: { HEAPU8: Uint8Array } };
  return backend.wasm ? backend.wasm.HEAPU8.byteLength : 0;
}

async function timeCase(
  name: string,
  lq: number,
  runs: number,
  reference: Reference[keyof Reference] | undefined,
): Promise<ComparisonRow[]> {
  peakRss = 0;
  peakHeap = 0;
  const rng = new Rng(0);
  const value = rng.normalTensor([1, S, M, D]);
  const locations = rng.uniformTensor([1, lq, M, L, P, 2]);
  const attention = tf.tidy(() => tf.reshape(tf.softmax(rng.normalTensor([1, lq, M, L * P])), [1, lq, M, L, P]));
  const gradOut = rng.normalTensor([1, lq, M * D]);
  const attn = (v: tf.Tensor, loc: tf.Tensor, a: tf.Tensor) => msDeformAttn(v, LEVELS, STARTS, loc, a);
  const backward = tf.grads(attn);

  const forward = await bench(
    `${name} forward`,
    () => {
      const out = attn(value, locations, attention);
      out.dataSync();
      sampleMemory();
      out.dispose();
    },
    { warmup: 3, runs },
  );
  const forwardBackward = await bench(
    `${name} forward+backward`,
    () => {
      const grads = backward([value, locations, attention], gradOut);
      grads[2].dataSync();
      sampleMemory();
      tf.dispose(grads);
    },
    { warmup: 2, runs },
  );
  tf.dispose([value, locations, attention, gradOut]);
  // Peaks while this case ran; the wasm heap only grows, so its size is the peak so far.
  const memory = {
    peakRssMB: Math.round(peakRss / MB),
    peakJsHeapMB: Math.round(peakHeap / MB),
    wasmHeapMB: Math.round(wasmHeapBytes() / MB),
  };
  return [
    compareRow(`${name} forward (Lq=${lq})`, forward, reference?.forward_ms ?? null, memory),
    compareRow(`${name} forward+backward (Lq=${lq})`, forwardBackward, reference?.forward_backward_ms ?? null, memory),
  ];
}

function fastest(a: Reference, b: Reference): Reference {
  const pick = (x: Reference['decoder'], y: Reference['decoder']) => ({
    forward_ms: Math.min(x.forward_ms, y.forward_ms),
    forward_backward_ms: Math.min(x.forward_backward_ms, y.forward_backward_ms),
  });
  return { decoder: pick(a.decoder, b.decoder), encoder: pick(a.encoder, b.encoder) };
}

async function main(): Promise<void> {
  const script = fileURLToPath(new URL('./reference.py', import.meta.url));
  // PyTorch's OpenMP threads spin while they wait, which costs it dearly when other work shares the 2 cores:
  // run it both ways and compare against the faster, so a busy machine does not flatter us.
  const spinning = runReferenceScript(script, ['--runs', '9']) as Reference | null;
  const passive = runReferenceScript(script, ['--runs', '9'], { OMP_WAIT_POLICY: 'PASSIVE' }) as Reference | null;
  const reference = spinning && passive ? fastest(spinning, passive) : null;
  if (!reference) console.log('PyTorch is not available: reporting our side only');
  else
    console.log(
      `PyTorch (2 threads) default / OMP_WAIT_POLICY=PASSIVE: ${JSON.stringify(spinning)} / ${JSON.stringify(passive)}`,
    );
  const backend = await initBackend('wasm');
  console.log(`backend ${backend}; ratio = ours / PyTorch (below 1: we are faster)`);
  const rows = [
    ...(await timeCase('decoder', 300, 15, reference?.decoder)),
    ...(await timeCase('encoder', S, 5, reference?.encoder)),
  ];
  reportBench('msda', rows);
}

await main();
