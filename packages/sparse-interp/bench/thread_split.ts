/**
 * Does splitting the sparse conv's row kernels across threads pay (core's runSplit)? The im2col of the active rows,
 * its adjoint, and the whole sparse 3x3 conv forward + backward (1x64x64x256 -> 256, 25% of the positions), in
 * persistent processes at 1 and 2 wasm threads, interleaved round by round by @deformjs/core's interleavedBench.
 * At 2 threads the backend's matMul uses both threads too. Run from this package with
 * `flock /tmp/deformjs-bench.lock npx tsx bench/thread_split.ts`; writes bench-results/sparse-interp-threads.json.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Rng, convGeometry, initBackend } from '@deformjs/core';
import { interleavedBench, type BenchCase } from '@deformjs/core/bench';
import { sparseConv2d } from '../src/index';
import { col2imRows, im2colRows } from '../src/kernels';

const CASES = ['im2col rows, 25%', 'col2im rows, 25%', 'sparse conv3x3 forward + backward, 25%'];

async function ours(): Promise<Record<string, BenchCase>> {
  await initBackend('wasm');
  const rng = new Rng(0);
  const x = rng.uniformTensor([1, 64, 64, 256], -1, 1);
  const weight = rng.uniformTensor([3, 3, 256, 256], -0.02, 0.02);
  const all = rng.shuffle(Array.from({ length: 64 * 64 }, (_, i) => i));
  const indices = tf.tensor1d(
    all.slice(0, 1024).sort((a, b) => a - b),
    'int32',
  );
  const g = convGeometry(
    'bench',
    x.shape,
    { kernel: [3, 3], outChannels: 256, arg: 'x' },
    { stride: [1, 1], padding: [1, 1], dilation: [1, 1] },
  );
  const columns = im2colRows(x, indices, g);
  const run = (f: () => tf.Tensor | tf.Tensor[]) => () => {
    const out = tf.tidy(f);
    for (const t of Array.isArray(out) ? out : [out]) t.dataSync();
    tf.dispose(out);
  };
  return {
    [CASES[0]]: run(() => im2colRows(x, indices, g)),
    [CASES[1]]: run(() => col2imRows(columns, indices, g)),
    [CASES[2]]: run(() =>
      tf.grads((input: tf.Tensor, filter: tf.Tensor) => tf.sum(sparseConv2d(input, filter, indices, { pad: 1 })))([
        x,
        weight,
      ]),
    ),
  };
}

await interleavedBench({
  file: 'sparse-interp-threads',
  title: 'sparse-interp on wasm: the sparse conv row kernels at 1 and 2 threads, interleaved',
  cases: CASES,
  ours,
  oursThreads: [1, 2],
  rounds: Number(process.env.BENCH_ROUNDS ?? 7),
});
