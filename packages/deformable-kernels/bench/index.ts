/**
 * Deformable Kernels layers on wasm against a plain depthwise conv, input 1x64x64x256, k = 3, scope 4x4,
 * padding 1, one rotation group: forward, and forward + backward (gradients for the input and every parameter).
 * Memory is tfjs's peak tensor bytes during one call (tf.profile). The official implementation is CUDA only,
 * so there is no PyTorch CPU reference to time against.
 * Run with `flock /tmp/deformjs-bench.lock pnpm bench` from this package.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type Module, Rng, initBackend } from '@deformjs/core';
import { bench, compareRow, reportBench, type BenchResult, settled, peakTensorMB } from '@deformjs/core/node';
import { DeformKernelConv2d, GlobalDeformKernel2d, LocalDeformKernel2d } from '../src/index';

const WARMUP = 2;
const RUNS = 7;
const [N, H, W, C, k, scope] = [1, 64, 64, 256, 3, 4];

const backend = await initBackend('wasm');
// A variable, so that forward + backward differentiates the input too.
const x = tf.variable(new Rng(0).normalTensor([N, H, W, C]));
const common = { channels: C, scope, kernelSize: k, padding: 1 };
const layers: Array<[string, Module & { forward(x: tf.Tensor): tf.Tensor }]> = [
  ['LocalDeformKernel2d', new LocalDeformKernel2d({ ...common, rng: 1 })],
  ['GlobalDeformKernel2d', new GlobalDeformKernel2d({ ...common, rng: 2 })],
  ['DeformKernelConv2d', new DeformKernelConv2d({ ...common, rng: 3 })],
];
// Deformed, not the zero init: predictor biases drawn so that kernels and samples really move.
for (const [, layer] of layers) {
  for (const [name, p] of layer.namedParameters()) {
    if (name.endsWith('.bias')) tf.tidy(() => p.variable.assign(new Rng(4).uniformTensor(p.variable.shape, -0.8, 0.8)));
  }
}
const depthwiseFilter = new Rng(5).uniformTensor([k, k, C, 1], -1 / 3, 1 / 3) as tf.Tensor4D;
const depthwise = (input: tf.Tensor, filter: tf.Tensor) =>
  tf.depthwiseConv2d(input as tf.Tensor4D, filter as tf.Tensor4D, 1, 1);

interface Measured {
  name: string;
  forward: BenchResult;
  forwardBackward: BenchResult;
  forwardMB: number;
  forwardBackwardMB: number;
}

async function measure(name: string, forward: () => tf.Tensor, forwardBackward: () => tf.Tensor[]): Promise<Measured> {
  return {
    name,
    forward: await bench(`${name} forward`, settled(forward), { warmup: WARMUP, runs: RUNS }),
    forwardBackward: await bench(`${name} forward + backward`, settled(forwardBackward), {
      warmup: WARMUP,
      runs: RUNS,
    }),
    forwardMB: await peakTensorMB(forward),
    forwardBackwardMB: await peakTensorMB(forwardBackward),
  };
}

const results: Measured[] = [
  await measure(
    'depthwise conv 3x3 (tf.depthwiseConv2d)',
    () => depthwise(x, depthwiseFilter),
    () => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(depthwise(a, b)))([x, depthwiseFilter]),
  ),
];
for (const [name, layer] of layers) {
  const variables = [x, ...layer.trainableVariables()];
  results.push(
    await measure(
      name,
      () => layer.forward(x),
      () => {
        const { value, grads } = tf.variableGrads(() => tf.sum(layer.forward(x)) as tf.Scalar, variables);
        return [value, ...Object.values(grads)];
      },
    ),
  );
}

const [base] = results;
const rows = results.flatMap((r) => [
  compareRow(`${r.name} forward`, r.forward, null, {
    xDepthwise: Math.round((r.forward.median / base.forward.median) * 10) / 10,
    peakTensorMB: r.forwardMB,
  }),
  compareRow(`${r.name} forward + backward`, r.forwardBackward, null, {
    xDepthwise: Math.round((r.forwardBackward.median / base.forwardBackward.median) * 10) / 10,
    peakTensorMB: r.forwardBackwardMB,
  }),
]);
console.log(
  `Deformable Kernels, input ${N}x${H}x${W}x${C}, k ${k}, scope ${scope}x${scope}, padding 1, deformjs ${backend}; xDepthwise = ours / the depthwise conv in the same mode`,
);
reportBench('deformable-kernels', rows);
tf.dispose([x, depthwiseFilter]);
for (const [, layer] of layers) layer.dispose();
