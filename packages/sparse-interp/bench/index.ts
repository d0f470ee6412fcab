/**
 * Sparse against dense on wasm, in one run: a 3x3 conv (1x64x64x256 -> 256, padding 1) at densities 100%,
 * 50%, 25%, 10% of randomly chosen output positions, relative to the dense tf.conv2d; and a whole sparse
 * bottleneck in evaluation (mask prediction, Gumbel sampling, sparse convs and interpolation, masks sampled at
 * about the given density) against the dense ResNet bottleneck (conv1, conv2, conv3 with folded norms,
 * shortcut), at layer1's and layer3's shapes. Ratios below 1 mean faster.
 *
 * The machine is shared, so the sparse and dense runs alternate and each ratio is the median of the per-pair
 * ratios (wall clock and process CPU time): a load spike then hits both sides of a pair.
 * Run with `flock /tmp/deformjs-bench.lock pnpm bench` from this package.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Rng, initBackend } from '@deformjs/core';
import { reportBench } from '@deformjs/core/node';
import { convNorm } from '@deformjs/nn';
import { SparseBottleneck, sparseConv2d } from '../src/index';

const RUNS = Number(process.env.BENCH_RUNS ?? 9);
const WARMUP = 2;
const backend = await initBackend('wasm');
const rng = new Rng(0);
const densities = [1, 0.5, 0.25, 0.1];

/** Runs `f`, waits for its result and frees it; returns [wall ms, process CPU ms]. */
function timed(f: () => tf.Tensor): [number, number] {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const out = f();
  out.dataSync();
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  out.dispose();
  return [wall, (cpu.user + cpu.system) / 1000];
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

const rows: object[] = [];
function paired(name: string, density: number, sparse: () => tf.Tensor, dense: () => tf.Tensor): void {
  for (let i = 0; i < WARMUP; i++) [sparse, dense].forEach(timed);
  const s: Array<[number, number]> = [];
  const d: Array<[number, number]> = [];
  for (let i = 0; i < RUNS; i++) {
    s.push(timed(sparse));
    d.push(timed(dense));
  }
  const ratio = (k: 0 | 1) => median(s.map((x, i) => x[k] / d[i][k]));
  const round = (v: number) => Math.round(v * 1000) / 1000;
  rows.push({
    case: name,
    density,
    sparseMs: round(median(s.map((x) => x[0]))),
    denseMs: round(median(d.map((x) => x[0]))),
    ratio: round(ratio(0)),
    cpuRatio: round(ratio(1)),
  });
  console.log(JSON.stringify(rows[rows.length - 1]));
}

/** `density` of `size` distinct positions, increasing. */
function randomPositions(size: number, density: number): Int32Array {
  const all = rng.shuffle(Array.from({ length: size }, (_, i) => i));
  return Int32Array.from(all.slice(0, Math.round(size * density)).sort((a, b) => a - b));
}

const x = rng.uniformTensor([1, 64, 64, 256], -1, 1) as tf.Tensor4D;
const weight = rng.uniformTensor([3, 3, 256, 256], -0.02, 0.02) as tf.Tensor4D;
for (const d of densities) {
  const indices = tf.tensor1d(randomPositions(64 * 64, d), 'int32');
  paired(
    'conv3x3 1x64x64x256 -> 256',
    d,
    () => sparseConv2d(x, weight, indices, { pad: 1 }),
    () => tf.conv2d(x, weight, 1, 'same'),
  );
  indices.dispose();
}

// layer1's shape (thin convs: mask convs, interpolations and the dense conv3 weigh most) and layer3's (where a
// ResNet-101 spends most of its time: the sampled convs dominate). The mask convs' bias set to logit(density)
// (weight 0) makes the sampled masks about that dense, plus the grid prior.
for (const [size, channels, planes] of [
  [64, 256, 64],
  [32, 1024, 256],
]) {
  const input = rng.uniformTensor([1, size, size, channels], -1, 1);
  const block = new SparseBottleneck(new Rng(1), channels, planes).eval();
  const dense = () =>
    tf.tidy(() => {
      let out = convNorm(block.conv1, block.bn1, input, true);
      out = convNorm(block.conv2, block.bn2, out, true);
      out = convNorm(block.conv3, block.bn3, out, false);
      return tf.relu(tf.add(out, input));
    });
  for (const d of densities) {
    const logit = d === 1 ? 30 : Math.log(d / (1 - d));
    for (const conv of [block.conv1_mask, block.conv2_mask]) tf.tidy(() => conv.bias!.assign(tf.fill([1], logit)));
    const masks = block.sampleMasks(input);
    const sampled = tf.tidy(
      () => tf.mean(tf.cast(tf.greater(tf.concat([masks.mask1, masks.mask2], 3), 0), 'float32')).dataSync()[0],
    );
    tf.dispose(Object.values(masks));
    paired(
      `bottleneck 1x${size}x${size}x${channels}, planes ${planes} (sampled ${sampled.toFixed(3)})`,
      d,
      () => block.forward(input),
      dense,
    );
  }
  block.dispose();
  input.dispose();
}
console.log(`backend ${backend}, ${RUNS} pairs per row`);
reportBench('sparse-interp', rows);
