/**
 * Where a sparse bottleneck's evaluation time goes: the whole block (sparse and dense) and each stage of its
 * sampled path, plus the alternative of running conv3 on conv2's rows and interpolating its 4x wider output, at
 * one shape and density on one wasm thread. The stages rotate round by round; medians over the rounds.
 * Usage: DEFORMJS_THREADS=1 npx tsx bench/profile_block.ts [size channels planes density] (default 64 256 64 0.25).
 */
import * as tf from '@tensorflow/tfjs-core';
import { Rng, initBackend, convGeometry } from '@deformjs/core';
import { convNorm } from '@deformjs/nn';
import { SparseBottleneck, activeIndices, gaussianKernel } from '../src/index';
import { gatherRows, im2colRows, interpolateRows } from '../src/kernels';

const [size, channels, planes, density] = (
  process.argv.slice(2).length ? process.argv.slice(2) : ['64', '256', '64', '0.25']
).map(Number);
await initBackend('wasm');
const input = new Rng(0).uniformTensor([1, size, size, channels], -1, 1);
const block = new SparseBottleneck(new Rng(1), channels, planes).eval();
for (const conv of [block.conv1_mask, block.conv2_mask])
  tf.tidy(() => conv.bias!.assign(tf.fill([1], Math.log(density / (1 - density)))));
const masks = block.sampleMasks(input);
const i1 = activeIndices(masks.mask1);
const i2 = activeIndices(masks.mask2);
console.log(`density mask1 ${(i1.length / size / size).toFixed(3)} mask2 ${(i2.length / size / size).toFixed(3)}`);
const W1 = tf.reshape(block.conv1.weight, [channels, planes]) as tf.Tensor2D;
const W2 = tf.reshape(block.conv2.weight, [9 * planes, planes]) as tf.Tensor2D;
const W3 = tf.reshape(block.conv3.weight, [planes, 4 * planes]) as tf.Tensor2D;
const kernel = gaussianKernel(tf.scalar(3), 7);
const rows1 = tf.fused.matMul({
  a: gatherRows(tf.reshape(input, [size * size, channels]), tf.tensor1d(i1, 'int32')),
  b: W1,
  activation: 'relu',
});
const out1 = interpolateRows(rows1, masks.mask1, kernel);
const geometry = convGeometry(
  'p',
  out1.shape,
  { kernel: [3, 3], outChannels: planes, arg: 'x' },
  { stride: [1, 1], padding: [1, 1], dilation: [1, 1] },
);
const rows2 = tf.fused.matMul({ a: im2colRows(out1, tf.tensor1d(i2, 'int32'), geometry), b: W2, activation: 'relu' });
const out2 = interpolateRows(rows2, masks.mask2, kernel);
const rows3 = tf.matMul(rows2, W3);

const stages: Record<string, () => tf.Tensor | tf.Tensor[]> = {
  'whole sparse block': () => block.forward(input),
  'whole dense block': () =>
    tf.tidy(() => {
      let out = convNorm(block.conv1, block.bn1, input, true);
      out = convNorm(block.conv2, block.bn2, out, true);
      out = convNorm(block.conv3, block.bn3, out, false);
      return tf.relu(tf.add(out, input));
    }),
  'sampleMasks (mask convs + sampling)': () => Object.values(block.sampleMasks(input)),
  'activeIndices x2': () => {
    activeIndices(masks.mask1);
    activeIndices(masks.mask2);
    return [];
  },
  'conv1 gather+matMul': () =>
    tf.tidy(() =>
      tf.fused.matMul({
        a: gatherRows(tf.reshape(input, [size * size, channels]), tf.tensor1d(i1, 'int32')),
        b: W1,
        activation: 'relu',
      }),
    ),
  'interp1 (planes ch)': () => interpolateRows(rows1, masks.mask1, kernel),
  'conv2 im2col+matMul': () =>
    tf.tidy(() =>
      tf.fused.matMul({ a: im2colRows(out1, tf.tensor1d(i2, 'int32'), geometry), b: W2, activation: 'relu' }),
    ),
  'interp2 (planes ch)': () => interpolateRows(rows2, masks.mask2, kernel),
  'conv3 dense matMul': () => tf.matMul(tf.reshape(out2, [size * size, planes]), W3),
  'conv3 on rows matMul': () => tf.matMul(rows2, W3),
  'interp3 (4*planes ch)': () => interpolateRows(rows3, masks.mask2, kernel),
  'fold 3 norms + 2 gaussian kernels': () =>
    tf.tidy(() => {
      const outs: tf.Tensor[] = [];
      for (const [conv, norm] of [
        [block.conv1, block.bn1],
        [block.conv2, block.bn2],
        [block.conv3, block.bn3],
      ] as const) {
        const { scale, shift } = norm.affine();
        outs.push(tf.reshape(tf.mul(conv.weight, scale), [-1, conv.weight.shape[3] as number]), shift);
      }
      outs.push(
        gaussianKernel(tf.reshape(block.conv1_sigma, []), 7),
        gaussianKernel(tf.reshape(block.conv2_sigma, []), 7),
      );
      return outs;
    }),
  'upload 2 index arrays': () => [tf.tensor1d(i1, 'int32'), tf.tensor1d(i2, 'int32')],
  'add+relu': () =>
    tf.tidy(() =>
      tf.relu(tf.add(tf.reshape(out2, [1, size, size, planes]), tf.reshape(out2, [1, size, size, planes]))),
    ),
};
const rounds = Number(process.env.ROUNDS ?? 15);
const times: Record<string, number[]> = Object.fromEntries(Object.keys(stages).map((k) => [k, []]));
const names = Object.keys(stages);
for (let r = -2; r < rounds; r++) {
  for (let s = 0; s < names.length; s++) {
    const name = names[(s + r + 2) % names.length];
    const t0 = performance.now();
    const out = stages[name]();
    const list = out instanceof tf.Tensor ? [out] : out;
    for (const t of list)
      if (t instanceof tf.Tensor) {
        t.dataSync();
        t.dispose();
      }
    if (r >= 0) times[name].push(performance.now() - t0);
  }
}
const median = (a: number[]) => a.sort((x, y) => x - y)[a.length >> 1];
for (const name of names) console.log(`${name.padEnd(40)} ${median(times[name]).toFixed(2)} ms`);
console.log(
  'load',
  (await import('node:os'))
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' '),
);
