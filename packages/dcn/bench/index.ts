/**
 * DCNv2 on wasm against torchvision's CPU kernel, in one run: input 1x64x64x256, 3x3, 256 filters, padding 1,
 * offsets uniform in [-2, 2], sigmoid mask; forward, and forward + backward (gradients for input, offset,
 * mask, weight and bias). A plain conv (tf.conv2d on wasm, torch's conv2d) is the second row.
 * Run with `flock /tmp/deformjs-bench.lock pnpm bench` from this package.
 *
 * Besides wall-clock medians, both sides report the median process CPU time of a run (all threads): on a
 * machine shared with other work, wall time mostly measures the contention, CPU time the work done.
 */
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { Rng, initBackend } from '@deformjs/core';
import { bench, compareRow, reportBench, runReferenceScript, type BenchResult, settled } from '@deformjs/core/node';
import { deformConv2d } from '../src/index';

const WARMUP = 2;
const RUNS = 7;

type Case = 'dcnForward' | 'dcnForwardBackward' | 'convForward' | 'convForwardBackward';
type Reference = { torch: string } & Record<Case | `${Case}Cpu`, number>;

const backend = await initBackend('wasm');
const rng = new Rng(0);
const [N, H, W, C, O, k] = [1, 64, 64, 256, 256, 3];
const x = rng.uniformTensor([N, H, W, C], -1, 1) as tf.Tensor4D;
const offset = rng.uniformTensor([N, H, W, 2 * k * k], -2, 2);
const mask = tf.tidy(() => tf.sigmoid(rng.normalTensor([N, H, W, k * k])));
const weight = rng.uniformTensor([k, k, C, O], -0.02, 0.02) as tf.Tensor4D;
const bias = tf.zeros([O]);

const dcn = (input: tf.Tensor, off: tf.Tensor, m: tf.Tensor, w: tf.Tensor, b: tf.Tensor) =>
  deformConv2d(input, off, w, { mask: m, bias: b, pad: 1 });
const conv = (input: tf.Tensor, w: tf.Tensor, b: tf.Tensor) =>
  tf.add(tf.conv2d(input as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'), b);

const options = { warmup: WARMUP, runs: RUNS };
const ours: Record<Case, BenchResult> = {
  dcnForward: await bench(
    'dcnv2 forward',
    settled(() => dcn(x, offset, mask, weight, bias)),
    options,
  ),
  dcnForwardBackward: await bench(
    'dcnv2 forward + backward',
    settled(() =>
      tf.grads((...a: tf.Tensor[]) => tf.sum(dcn(a[0], a[1], a[2], a[3], a[4])))([x, offset, mask, weight, bias]),
    ),
    options,
  ),
  convForward: await bench(
    'conv2d forward',
    settled(() => conv(x, weight, bias)),
    options,
  ),
  convForwardBackward: await bench(
    'conv2d forward + backward',
    settled(() => tf.grads((...a: tf.Tensor[]) => tf.sum(conv(a[0], a[1], a[2])))([x, weight, bias])),
    options,
  ),
};
const reference = runReferenceScript(fileURLToPath(new URL('./reference.py', import.meta.url)), [
  String(WARMUP),
  String(RUNS),
]) as Reference | null;

const round = (v: number) => Math.round(v * 100) / 100;
const row = (name: string, key: Case, what: string) => {
  const ref = reference ? reference[key] : null;
  const refCpu = reference ? reference[`${key}Cpu`] : null;
  return compareRow(name, ours[key], ref, {
    speedup: ref ? round(ref / ours[key].median) : null,
    oursCpuMs: round(ours[key].cpuMedian),
    referenceCpuMs: refCpu === null ? null : round(refCpu),
    cpuSpeedup: refCpu ? round(refCpu / ours[key].cpuMedian) : null,
    ours: `deformjs ${backend}`,
    reference: `${what} (torch ${reference?.torch ?? 'absent'}, 2 threads)`,
  });
};
reportBench('dcn', [
  row('DCNv2 forward', 'dcnForward', 'torchvision.ops.deform_conv2d'),
  row('DCNv2 forward + backward', 'dcnForwardBackward', 'torchvision.ops.deform_conv2d'),
  row('conv2d forward', 'convForward', 'torch conv2d'),
  row('conv2d forward + backward', 'convForwardBackward', 'torch conv2d'),
]);
tf.dispose([x, offset, mask, weight, bias]);
