/**
 * Sparse against dense on wasm, in one run: a 3x3 conv (1x64x64x256 -> 256, padding 1) at densities 100%,
 * 50%, 25%, 10% of randomly chosen output positions, timed relative to the dense tf.conv2d; and a whole
 * sparse bottleneck in evaluation (1x64x64x256, planes 64, masks at the given density) against the dense
 * ResNet bottleneck's convs (conv1, conv2, conv3 with folded norms, shortcut). Ratios below 1 mean faster.
 * Run with `flock /tmp/deformjs-bench.lock pnpm bench` from this package.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Rng, initBackend } from '@deformjs/core';
import { bench, reportBench, type BenchResult } from '@deformjs/core/node';
import { convNorm } from '@deformjs/nn';
import { SparseBottleneck, sparseConv2d } from '../src/index';

const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const options = { warmup: 2, runs: RUNS };
const backend = await initBackend('wasm');
const rng = new Rng(0);
const [N, H, W, C, O] = [1, 64, 64, 256, 256];
const densities = [1, 0.5, 0.25, 0.1];

const settle = (f: () => tf.Tensor) => () => {
  const out = f();
  out.dataSync();
  out.dispose();
};

/** `count` distinct positions of `size`, increasing. */
function randomPositions(size: number, density: number): Int32Array {
  const all = rng.shuffle(Array.from({ length: size }, (_, i) => i));
  return Int32Array.from(all.slice(0, Math.round(size * density)).sort((a, b) => a - b));
}

const x = rng.uniformTensor([N, H, W, C], -1, 1) as tf.Tensor4D;
const weight = rng.uniformTensor([3, 3, C, O], -0.02, 0.02) as tf.Tensor4D;
const rows: object[] = [];
const dense = await bench('dense conv2d', settle(() => tf.conv2d(x, weight, 1, 'same')), options);
const row = (name: string, density: number, r: BenchResult, base: BenchResult) =>
  rows.push({ case: name, density, ms: r.median, denseMs: base.median, ratio: r.median / base.median, cpuRatio: r.cpuMedian / base.cpuMedian });
for (const d of densities) {
  const indices = tf.tensor1d(randomPositions(N * H * W, d), 'int32');
  const r = await bench(`sparse conv2d ${d}`, settle(() => sparseConv2d(x, weight, indices, { pad: 1 })), options);
  row('conv3x3 1x64x64x256', d, r, dense);
  indices.dispose();
}

// A whole bottleneck in evaluation: masks fixed at the density (plus the grid prior the masks always carry).
const block = new SparseBottleneck(new Rng(1), C, 64).eval();
const denseBlock = await bench('dense bottleneck', settle(() => tf.tidy(() => {
  let out = convNorm(block.conv1, block.bn1, x, true);
  out = convNorm(block.conv2, block.bn2, out, true);
  out = convNorm(block.conv3, block.bn3, out, false);
  return tf.relu(tf.add(out, x));
})), options);
for (const d of densities) {
  const mask = (): tf.Tensor4D => {
    const m = new Float32Array(N * H * W);
    for (const q of randomPositions(N * H * W, d)) m[q] = 1;
    return tf.tensor4d(m, [N, H, W, 1]);
  };
  const [m1, m2] = [mask(), mask()];
  const r = await bench(`sparse bottleneck ${d}`, settle(() => block.forwardMasked(x, m1, m2)), options);
  row('bottleneck 1x64x64x256, planes 64', d, r, denseBlock);
  tf.dispose([m1, m2]);
}
console.log(`backend ${backend}`);
reportBench('sparse-interp', rows);
