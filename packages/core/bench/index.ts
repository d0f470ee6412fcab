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
import { bench, compareRow, reportBench, runReferenceScript, type BenchResult } from '@deformjs/core/node';

// Captured before initBackend replaces it, to show what the replacement gains.
const stockWasmInputGradient = tf.getKernel('Conv2DBackpropInput', 'wasm') as KernelConfig;

const X_SHAPE: [number, number, number, number] = [1, 64, 64, 256];
const W_SHAPE: [number, number, number, number] = [3, 3, 256, 256];
const CONV_ATTRS = { strides: 1, pad: 'same', dataFormat: 'NHWC', dimRoundingMode: undefined };

interface Timing extends BenchResult {
  /** Median process CPU time per run: our kernels run on one thread, so this is what a quiet machine shows. */
  cpuMedian: number;
}

/** `bench` (wall-clock medians) plus the CPU time of the same runs, which other work on the machine barely moves. */
async function timed(name: string, fn: () => void, options: { warmup?: number; runs?: number } = {}): Promise<Timing> {
  const cpu: number[] = [];
  const result = await bench(
    name,
    () => {
      const start = process.cpuUsage();
      fn();
      const used = process.cpuUsage(start);
      cpu.push((used.user + used.system) / 1000);
    },
    options,
  );
  const measured = cpu.slice(options.warmup ?? 2).sort((a, b) => a - b);
  return { ...result, cpuMedian: measured[measured.length >> 1] };
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
  const inputGradient = () => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...CONV_ATTRS, inputShape: X_SHAPE } as unknown as NamedAttrMap) as tf.Tensor;
  const filterGradient = () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...CONV_ATTRS, filterShape: W_SHAPE } as unknown as NamedAttrMap) as tf.Tensor;
  const both = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'));

  const forward = await timed('forward', () => settle(tf.conv2d(x, w, 1, 'same')));
  const forwardBackward = await timed('forward+backward', () => settle(both([x, w])));
  const input = await timed('input gradient', () => settle(inputGradient()));
  const filter = await timed('filter gradient', () => settle(filterGradient()));
  const stockInput = await timed(
    'stock input gradient',
    () => {
      const info = stockWasmInputGradient.kernelFunc({ inputs: { dy, filter: w } as unknown as Record<string, TensorInfo>, backend: tf.backend(), attrs: { ...CONV_ATTRS, inputShape: X_SHAPE } as unknown as NamedAttrMap }) as TensorInfo;
      settle(tf.engine().makeTensorFromTensorInfo(info));
    },
    { warmup: 1, runs: 3 },
  );

  // A MobileNet-like depthwise layer: 8x56x56x128, 3x3, multiplier 1, same.
  const dx = rng.normalTensor([8, 56, 56, 128]) as tf.Tensor4D;
  const dw = rng.normalTensor([3, 3, 128, 1], 0, 0.1) as tf.Tensor4D;
  const depthwiseBoth = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'));
  const depthwiseForward = await timed('depthwise forward', () => settle(tf.depthwiseConv2d(dx, dw, 1, 'same')));
  const depthwiseForwardBackward = await timed('depthwise forward+backward', () => settle(depthwiseBoth([dx, dw])));
  tf.dispose([dx, dw]);

  await initBackend('cpu');
  const cpuFilter = await timed('cpu filter gradient', () => settle(filterGradient()), { warmup: 0, runs: 1 });
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
    compareRow('wasm forward + backward (tf.grads, dx and dW)', forwardBackward, reference?.forwardBackward ?? null, vsForward(forwardBackward)),
    compareRow('wasm input gradient (Conv2DBackpropInput)', input, reference?.inputGrad ?? null, vsForward(input)),
    compareRow('wasm filter gradient (Conv2DBackpropFilter)', filter, reference?.filterGrad ?? null, vsForward(filter)),
    compareRow('wasm stock tfjs Conv2DBackpropInput', stockInput, reference?.inputGrad ?? null, vsForward(stockInput)),
    compareRow('cpu filter gradient (Conv2DBackpropFilter, 1 run)', cpuFilter, reference?.filterGrad ?? null, vsForward(cpuFilter)),
    compareRow('wasm depthwise 8x56x56x128 3x3 forward', depthwiseForward, reference?.depthwiseForward ?? null, vsDepthwise(depthwiseForward)),
    compareRow('wasm depthwise forward + backward (tf.grads)', depthwiseForwardBackward, reference?.depthwiseForwardBackward ?? null, vsDepthwise(depthwiseForwardBackward)),
  ];
  console.log('conv2d 1x64x64x256, 3x3, 256 filters, same; reference: PyTorch (2 threads); ratio = ours / reference; xForward = ours / our wasm forward of the same layer (wall); cpuMs, cpuXForward: the same from process CPU time');
  reportBench('conv2d-training', rows);
}

await main();
