/**
 * Sparse against dense on wasm (one thread), interleaved round by round by @deformjs/core's interleavedBench: a
 * 3x3 conv (1x64x64x256 -> 256, padding 1) at 50%, 25% and 10% of randomly chosen output positions against the
 * dense tf.conv2d; and a whole sparse bottleneck in evaluation (mask prediction, Gumbel sampling, sparse conv1
 * and conv2, two interpolations, dense conv3 and shortcut) against the dense ResNet bottleneck (conv1, conv2,
 * conv3 with folded norms, shortcut), at layer1's shape (64x64x256, planes 64) and layer3's (32x32x1024,
 * planes 256), masks sampled at about 50%, 25% and 10%. No PyTorch side: the ratios sparse / dense are those of
 * the medians over the rounds, which alternate the cases, so load changes hit both. Run from this package with
 * `flock /tmp/deformjs-bench.lock pnpm bench`; writes bench-results/sparse-interp.json.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Rng, initBackend } from '@deformjs/core';
import { interleavedBench, type BenchCase } from '@deformjs/core/bench';
import { convNorm } from '@deformjs/nn';
import { SparseBottleneck, sparseConv2d } from '../src/index';

const DENSITIES = [0.5, 0.25, 0.1];
const BLOCKS = [
  { size: 64, channels: 256, planes: 64 },
  { size: 32, channels: 1024, planes: 256 },
];
const percent = (d: number) => `${Math.round(d * 100)}%`;
const convCase = (d: number | null) => `conv3x3 1x64x64x256 -> 256 ${d === null ? 'dense' : `sparse ${percent(d)}`}`;
const blockCase = (b: (typeof BLOCKS)[number], d: number | null) =>
  `bottleneck 1x${b.size}x${b.size}x${b.channels}, planes ${b.planes} ${d === null ? 'dense' : `sparse ${percent(d)}`}`;

/** Runs `f`, reads its result back and frees it. */
const run = (f: () => tf.Tensor) => () => {
  const out = f();
  out.dataSync();
  out.dispose();
};

async function ours(): Promise<Record<string, BenchCase>> {
  await initBackend('wasm');
  const rng = new Rng(0);
  const cases: Record<string, BenchCase> = {};

  const x = rng.uniformTensor([1, 64, 64, 256], -1, 1);
  const weight = rng.uniformTensor([3, 3, 256, 256], -0.02, 0.02);
  cases[convCase(null)] = run(() => tf.conv2d(x as tf.Tensor4D, weight as tf.Tensor4D, 1, 'same'));
  for (const d of DENSITIES) {
    const all = rng.shuffle(Array.from({ length: 64 * 64 }, (_, i) => i));
    const indices = tf.tensor1d(
      all.slice(0, Math.round(64 * 64 * d)).sort((a, b) => a - b),
      'int32',
    );
    cases[convCase(d)] = run(() => sparseConv2d(x, weight, indices, { pad: 1 }));
  }

  for (const b of BLOCKS) {
    const input = rng.uniformTensor([1, b.size, b.size, b.channels], -1, 1);
    // One block per density: the mask convs' bias logit(d) (weight 0) samples about d of the positions, plus the
    // grid prior.
    const block = (d: number) => {
      const m = new SparseBottleneck(new Rng(1), b.channels, b.planes).eval();
      for (const conv of [m.conv1_mask, m.conv2_mask])
        tf.tidy(() => conv.bias!.assign(tf.fill([1], Math.log(d / (1 - d)))));
      return m;
    };
    const reference = block(0.5);
    cases[blockCase(b, null)] = run(() =>
      tf.tidy(() => {
        let out = convNorm(reference.conv1, reference.bn1, input, true);
        out = convNorm(reference.conv2, reference.bn2, out, true);
        out = convNorm(reference.conv3, reference.bn3, out, false);
        return tf.relu(tf.add(out, input));
      }),
    );
    for (const d of DENSITIES) {
      const sparse = block(d);
      cases[blockCase(b, d)] = run(() => sparse.forward(input));
    }
  }
  return cases;
}

await interleavedBench({
  file: 'sparse-interp',
  title: 'sparse-interp on wasm: sparse conv and sparse bottleneck against dense, same process, interleaved',
  cases: [
    convCase(null),
    ...DENSITIES.map(convCase),
    ...BLOCKS.flatMap((b) => [blockCase(b, null), ...DENSITIES.map((d) => blockCase(b, d))]),
  ],
  ours,
  oursThreads: [1],
  rounds: Number(process.env.BENCH_ROUNDS ?? 7),
});
