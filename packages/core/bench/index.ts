/**
 * The training kernels on the case: conv2d 1x64x64x256, 3x3, 256 filters, 'same', float32. On wasm:
 * forward, forward + backward through tf.grads, each gradient alone, and tfjs's stock wasm input gradient; on
 * cpu: our filter gradient (the stock one takes about 300 s). PyTorch 1.13 (2 threads) runs the same work in the
 * same process tree when it is installed. Run under `flock /tmp/deformjs-bench.lock pnpm bench`, after
 * `pnpm build`: it measures the built package, as users get it (its bundled gradient registration is what
 * makes tf.grads work in plain Node).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import type { KernelConfig, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import { fileURLToPath } from 'node:url';
import { initBackend, Rng } from '@deformjs/core';
import { compareRow, reportBench, runReferenceScript, type BenchResult } from '@deformjs/core/node';

// Captured before initBackend replaces it, to show what the replacement gains.
const stockWasmInputGradient = tf.getKernel('Conv2DBackpropInput', 'wasm') as KernelConfig;

const X_SHAPE: [number, number, number, number] = [1, 64, 64, 256];
const W_SHAPE: [number, number, number, number] = [3, 3, 256, 256];
const CONV_ATTRS = { strides: 1, pad: 'same', dataFormat: 'NHWC', dimRoundingMode: undefined };

interface Timing extends BenchResult {
  /** Median process CPU time per run (our kernels run on one thread). */
  cpuMedian: number;
}

/**
 * Times several cases round-robin, one run of each per round, so that load from other work on the shared
 * machine falls on all of them alike and the ratios between them hold; reports wall-clock medians (as `bench`
 * does) plus process CPU time medians.
 */
function interleaved(cases: Record<string, () => void>, runs = 7, warmup = 2): Record<string, Timing> {
  const names = Object.keys(cases);
  const wall: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  const cpu: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let round = 0; round < warmup + runs; round++) {
    for (const name of names) {
      const cpuStart = process.cpuUsage();
      const start = performance.now();
      cases[name]();
      const elapsed = performance.now() - start;
      const used = process.cpuUsage(cpuStart);
      if (round >= warmup) {
        wall[name].push(elapsed);
        cpu[name].push((used.user + used.system) / 1000);
      }
    }
  }
  const median = (v: number[]) => [...v].sort((p, q) => p - q)[v.length >> 1];
  return Object.fromEntries(
    names.map((name) => [
      name,
      {
        name,
        median: median(wall[name]),
        min: Math.min(...wall[name]),
        max: Math.max(...wall[name]),
        runs,
        cpuMedian: median(cpu[name]),
      },
    ]),
  );
}

interface Reference {
  forward: number;
  forwardBackward: number;
  inputGrad: number;
  filterGrad: number;
  depthwiseForward: number;
  depthwiseForwardBackward: number;
}

/** Brings a result back from the backend (so the work is done) and frees it. */
function settle(out: tf.Tensor | tf.Tensor[]): void {
  for (const t of [out].flat()) t.dataSync();
  tf.dispose(out);
}

async function main(): Promise<void> {
  await initBackend('wasm');
  const rng = new Rng(0);
  const x = rng.normalTensor(X_SHAPE) as tf.Tensor4D;
  const w = rng.normalTensor(W_SHAPE, 0, 0.05) as tf.Tensor4D;
  const dy = rng.normalTensor(X_SHAPE) as tf.Tensor4D;
  const inputGradient = () =>
    tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, {
      ...CONV_ATTRS,
      inputShape: X_SHAPE,
    } as unknown as NamedAttrMap) as tf.Tensor;
  const filterGradient = () =>
    tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
      ...CONV_ATTRS,
      filterShape: W_SHAPE,
    } as unknown as NamedAttrMap) as tf.Tensor;
  const both = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'));

  const stockInputGradient = () => {
    const info = stockWasmInputGradient.kernelFunc({
      inputs: { dy, filter: w } as unknown as Record<string, TensorInfo>,
      backend: tf.backend(),
      attrs: { ...CONV_ATTRS, inputShape: X_SHAPE } as unknown as NamedAttrMap,
    }) as TensorInfo;
    return tf.engine().makeTensorFromTensorInfo(info);
  };
  const conv = interleaved({
    forward: () => settle(tf.conv2d(x, w, 1, 'same')),
    forwardBackward: () => settle(both([x, w])),
    input: () => settle(inputGradient()),
    filter: () => settle(filterGradient()),
  });
  const stockInput = interleaved({ stockInput: () => settle(stockInputGradient()) }, 3, 1).stockInput;
  const depthwise = timeDepthwise(rng);

  await initBackend('cpu');
  const cpuFilter = interleaved({ cpuFilter: () => settle(filterGradient()) }, 1, 0).cpuFilter;
  tf.dispose([x, w, dy]);

  const script = fileURLToPath(new URL('./conv2d_reference.py', import.meta.url));
  const reference = runReferenceScript(script) as Reference | null;
  console.log(
    'conv2d 1x64x64x256, 3x3, 256 filters, same; reference: PyTorch (2 threads); ratio = ours / reference; xForward = ours / our wasm forward of the same layer (wall); cpuMs, cpuXForward: the same from process CPU time',
  );
  reportBench('conv2d-training', benchRows({ ...conv, stockInput, cpuFilter }, depthwise, reference));
}

/** A MobileNet-like depthwise layer: 8x56x56x128, 3x3, multiplier 1, same; forward and forward + backward. */
function timeDepthwise(rng: Rng): Record<string, Timing> {
  const x = rng.normalTensor([8, 56, 56, 128]) as tf.Tensor4D;
  const w = rng.normalTensor([3, 3, 128, 1], 0, 0.1) as tf.Tensor4D;
  const both = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
    tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'),
  );
  const timings = interleaved({
    forward: () => settle(tf.depthwiseConv2d(x, w, 1, 'same')),
    forwardBackward: () => settle(both([x, w])),
  });
  tf.dispose([x, w]);
  return timings;
}

/** The table: each case against PyTorch's time for the same work and against our forward of the same layer. */
function benchRows(
  conv: Record<string, Timing>,
  depthwise: Record<string, Timing>,
  reference: Reference | null,
): object[] {
  const round2 = (v: number) => Math.round(v * 100) / 100;
  const row = (name: string, ours: Timing, referenceMs: number | undefined, forward: Timing) =>
    compareRow(name, ours, referenceMs ?? null, {
      xForward: round2(ours.median / forward.median),
      cpuMs: round2(ours.cpuMedian),
      cpuXForward: round2(ours.cpuMedian / forward.cpuMedian),
    });
  const { forward, forwardBackward, input, filter, stockInput, cpuFilter } = conv;
  return [
    row('wasm forward', forward, reference?.forward, forward),
    row('wasm forward + backward (tf.grads, dx and dW)', forwardBackward, reference?.forwardBackward, forward),
    row('wasm input gradient (Conv2DBackpropInput)', input, reference?.inputGrad, forward),
    row('wasm filter gradient (Conv2DBackpropFilter)', filter, reference?.filterGrad, forward),
    row('wasm stock tfjs Conv2DBackpropInput', stockInput, reference?.inputGrad, forward),
    row('cpu filter gradient (Conv2DBackpropFilter, 1 run)', cpuFilter, reference?.filterGrad, forward),
    row('wasm depthwise 8x56x56x128 3x3 forward', depthwise.forward, reference?.depthwiseForward, depthwise.forward),
    row(
      'wasm depthwise forward + backward (tf.grads)',
      depthwise.forwardBackward,
      reference?.depthwiseForwardBackward,
      depthwise.forward,
    ),
  ];
}

await main();
