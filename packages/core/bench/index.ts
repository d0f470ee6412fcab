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

async function main(): Promise<void> {
  await initBackend('wasm');
  const rng = new Rng(0);
  const x = rng.normalTensor(X_SHAPE) as tf.Tensor4D;
  const w = rng.normalTensor(W_SHAPE, 0, 0.05) as tf.Tensor4D;
  const dy = rng.normalTensor(X_SHAPE) as tf.Tensor4D;
  const settle = (out: tf.Tensor | tf.Tensor[]) => {
    for (const t of [out].flat()) t.dataSync();
    tf.dispose(out);
  };
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
  const { forward, forwardBackward, input, filter } = conv;
  const stockInput = interleaved({ stockInput: () => settle(stockInputGradient()) }, 3, 1).stockInput;

  // A MobileNet-like depthwise layer: 8x56x56x128, 3x3, multiplier 1, same.
  const dx = rng.normalTensor([8, 56, 56, 128]) as tf.Tensor4D;
  const dw = rng.normalTensor([3, 3, 128, 1], 0, 0.1) as tf.Tensor4D;
  const depthwiseBoth = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
    tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'),
  );
  const depthwise = interleaved({
    forward: () => settle(tf.depthwiseConv2d(dx, dw, 1, 'same')),
    forwardBackward: () => settle(depthwiseBoth([dx, dw])),
  });
  const depthwiseForward = depthwise.forward;
  const depthwiseForwardBackward = depthwise.forwardBackward;
  tf.dispose([dx, dw]);

  await initBackend('cpu');
  const cpuFilter = interleaved({ cpuFilter: () => settle(filterGradient()) }, 1, 0).cpuFilter;
  tf.dispose([x, w, dy]);

  const script = fileURLToPath(new URL('./conv2d_reference.py', import.meta.url));
  const reference = runReferenceScript(script) as Reference | null;
  const round2 = (v: number) => Math.round(v * 100) / 100;
  const relativeTo = (base: Timing) => (r: Timing) => ({
    xForward: round2(r.median / base.median),
    cpuMs: round2(r.cpuMedian),
    cpuXForward: round2(r.cpuMedian / base.cpuMedian),
  });
  const vsForward = relativeTo(forward);
  const vsDepthwise = relativeTo(depthwiseForward);
  const rows = [
    compareRow('wasm forward', forward, reference?.forward ?? null, vsForward(forward)),
    compareRow(
      'wasm forward + backward (tf.grads, dx and dW)',
      forwardBackward,
      reference?.forwardBackward ?? null,
      vsForward(forwardBackward),
    ),
    compareRow('wasm input gradient (Conv2DBackpropInput)', input, reference?.inputGrad ?? null, vsForward(input)),
    compareRow('wasm filter gradient (Conv2DBackpropFilter)', filter, reference?.filterGrad ?? null, vsForward(filter)),
    compareRow('wasm stock tfjs Conv2DBackpropInput', stockInput, reference?.inputGrad ?? null, vsForward(stockInput)),
    compareRow(
      'cpu filter gradient (Conv2DBackpropFilter, 1 run)',
      cpuFilter,
      reference?.filterGrad ?? null,
      vsForward(cpuFilter),
    ),
    compareRow(
      'wasm depthwise 8x56x56x128 3x3 forward',
      depthwiseForward,
      reference?.depthwiseForward ?? null,
      vsDepthwise(depthwiseForward),
    ),
    compareRow(
      'wasm depthwise forward + backward (tf.grads)',
      depthwiseForwardBackward,
      reference?.depthwiseForwardBackward ?? null,
      vsDepthwise(depthwiseForwardBackward),
    ),
  ];
  console.log(
    'conv2d 1x64x64x256, 3x3, 256 filters, same; reference: PyTorch (2 threads); ratio = ours / reference; xForward = ours / our wasm forward of the same layer (wall); cpuMs, cpuXForward: the same from process CPU time',
  );
  reportBench('conv2d-training', rows);
}

await main();
