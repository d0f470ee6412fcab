/**
 * The training kernels on the case: conv2d 1x64x64x256, 3x3, 256 filters, 'same', float32. On wasm:
 * forward, forward + backward through tf.grads, each gradient alone, and tfjs's stock wasm input gradient; on
 * cpu: our filter gradient (the stock one takes about 300 s). PyTorch 1.13 (2 threads) runs the same work in the
 * same process tree when it is installed. Run under `flock /tmp/deformjs-bench.lock pnpm bench`.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
// tfjs-core ships its gradients only as ESM dist files that plain Node cannot load all at once (a directory
// import); the conv2d gradient alone loads fine, and it is the one this benchmark differentiates.
import { conv2DGradConfig } from '@tensorflow/tfjs-core/dist/gradients/Conv2D_grad';
import type { KernelConfig, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import { fileURLToPath } from 'node:url';
import { initBackend, Rng } from '../src/index';
import { bench, compareRow, reportBench, runReferenceScript, type BenchResult } from '../src/node';

tf.registerGradient(conv2DGradConfig);
// Captured before initBackend replaces it, to show what the replacement gains.
const stockWasmInputGradient = tf.getKernel('Conv2DBackpropInput', 'wasm') as KernelConfig;

const X_SHAPE: [number, number, number, number] = [1, 64, 64, 256];
const W_SHAPE: [number, number, number, number] = [3, 3, 256, 256];
const CONV_ATTRS = { strides: 1, pad: 'same', dataFormat: 'NHWC', dimRoundingMode: undefined };

interface Reference {
  forward: number;
  forwardBackward: number;
  inputGrad: number;
  filterGrad: number;
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

  const forward = await bench('forward', () => settle(tf.conv2d(x, w, 1, 'same')));
  const forwardBackward = await bench('forward+backward', () => settle(both([x, w])));
  const input = await bench('input gradient', () => settle(inputGradient()));
  const filter = await bench('filter gradient', () => settle(filterGradient()));
  const stockInput = await bench(
    'stock input gradient',
    () => {
      const info = stockWasmInputGradient.kernelFunc({ inputs: { dy, filter: w } as unknown as Record<string, TensorInfo>, backend: tf.backend(), attrs: { ...CONV_ATTRS, inputShape: X_SHAPE } as unknown as NamedAttrMap }) as TensorInfo;
      settle(tf.engine().makeTensorFromTensorInfo(info));
    },
    { warmup: 1, runs: 3 },
  );

  await initBackend('cpu');
  const cpuFilter = await bench('cpu filter gradient', () => settle(filterGradient()), { warmup: 0, runs: 1 });
  tf.dispose([x, w, dy]);

  const script = fileURLToPath(new URL('./conv2d_reference.py', import.meta.url));
  const reference = runReferenceScript(script) as Reference | null;
  const vsForward = (r: BenchResult) => ({ xForward: Math.round((r.median / forward.median) * 100) / 100 });
  const rows = [
    compareRow('wasm forward', forward, reference?.forward ?? null, vsForward(forward)),
    compareRow('wasm forward + backward (tf.grads, dx and dW)', forwardBackward, reference?.forwardBackward ?? null, vsForward(forwardBackward)),
    compareRow('wasm input gradient (Conv2DBackpropInput)', input, reference?.inputGrad ?? null, vsForward(input)),
    compareRow('wasm filter gradient (Conv2DBackpropFilter)', filter, reference?.filterGrad ?? null, vsForward(filter)),
    compareRow('wasm stock tfjs Conv2DBackpropInput', stockInput, reference?.inputGrad ?? null, vsForward(stockInput)),
    compareRow('cpu filter gradient (Conv2DBackpropFilter, 1 run)', cpuFilter, reference?.filterGrad ?? null, vsForward(cpuFilter)),
  ];
  console.log('conv2d 1x64x64x256, 3x3, 256 filters, same; reference: PyTorch (2 threads); ratio = ours / reference; xForward = ours / our wasm forward');
  reportBench('conv2d-training', rows);
}

await main();
