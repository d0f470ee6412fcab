/**
 * Sparse against dense on wasm, in one run: a 3x3 conv (1x64x64x256 -> 256, padding 1) at densities 100%,
 * 50%, 25%, 10% of randomly chosen output positions, timed relative to the dense tf.conv2d; and a whole
 * sparse bottleneck in evaluation (1x64x64x256, planes 64; mask prediction, Gumbel sampling, sparse convs and
 * interpolation, masks sampled at about the given density) against the dense ResNet bottleneck (conv1, conv2,
 * conv3 with folded norms, shortcut). Ratios below 1 mean faster.
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

// A whole bottleneck in evaluation, mask prediction and sampling included: the mask convs' bias set to
// logit(density) (weight 0) makes the sampled masks that dense, plus the grid prior.
// layer1's shape (thin convs: the interpolations and the dense conv3 weigh most) and layer3's (where a
// ResNet-101 spends most of its time: the sampled convs dominate).
for (const [size, channels, planes] of [[64, 256, 64], [32, 1024, 256]]) {
  const input = rng.uniformTensor([1, size, size, channels], -1, 1);
  const block = new SparseBottleneck(new Rng(1), channels, planes).eval();
  const denseBlock = await bench('dense bottleneck', settle(() => tf.tidy(() => {
    let out = convNorm(block.conv1, block.bn1, input, true);
    out = convNorm(block.conv2, block.bn2, out, true);
    out = convNorm(block.conv3, block.bn3, out, false);
    return tf.relu(tf.add(out, input));
  })), options);
  for (const d of densities) {
    const logit = d === 1 ? 30 : Math.log(d / (1 - d));
    for (const conv of [block.conv1_mask, block.conv2_mask]) tf.tidy(() => conv.bias!.assign(tf.fill([1], logit)));
    const masks = block.sampleMasks(input);
    const sampled = tf.tidy(() => tf.mean(tf.cast(tf.greater(tf.concat([masks.mask1, masks.mask2], 3), 0), 'float32')).dataSync()[0]);
    tf.dispose(Object.values(masks));
    const r = await bench(`sparse bottleneck ${d}`, settle(() => block.forward(input)), options);
    row(`bottleneck 1x${size}x${size}x${channels}, planes ${planes} (sampled ${sampled.toFixed(3)})`, d, r, denseBlock);
  }
  block.dispose();
  input.dispose();
}
console.log(`backend ${backend}`);
reportBench('sparse-interp', rows);
