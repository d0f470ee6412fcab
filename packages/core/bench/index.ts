/**
 * The training kernels on the case, conv2d 1x64x64x256, 3x3, 256 filters, 'same', float32, and a
 * MobileNet-like depthwise layer (8x56x56x128, 3x3, same): forward, forward + backward through tf.grads, each conv2d
 * gradient alone, and tfjs's stock wasm input gradient (ours only: what core's replacement gains). Interleaved round
 * by round with the same work in PyTorch (bench/conv2d_reference.py) by core's interleavedBench: ours at 1 and 2
 * wasm threads, PyTorch at 1 and 2 threads with OMP_WAIT_POLICY=PASSIVE, persistent processes, median of the
 * per-round ratios. Run after `pnpm build` (it measures the built package, as users get it): pnpm bench
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import type { KernelConfig, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import { fileURLToPath } from 'node:url';
import { initBackend, Rng } from '@deformjs/core';
import { interleavedBench } from '@deformjs/core/bench';

// Captured before initBackend replaces it, to show what the replacement gains.
const stockWasmInputGradient = tf.getKernel('Conv2DBackpropInput', 'wasm') as KernelConfig;

const X_SHAPE: [number, number, number, number] = [1, 64, 64, 256];
const W_SHAPE: [number, number, number, number] = [3, 3, 256, 256];
const CONV_ATTRS = { strides: 1, pad: 'same', dataFormat: 'NHWC', dimRoundingMode: undefined };

/** Brings a result back from the backend (so the work is done) and frees it. */
function settle(out: tf.Tensor | tf.Tensor[]): void {
  for (const t of [out].flat()) t.dataSync();
  tf.dispose(out);
}

await interleavedBench({
  file: 'conv2d-training',
  title: 'conv2d 1x64x64x256, 3x3, 256 filters, same, and depthwise 8x56x56x128, 3x3, same: forward and gradients',
  cases: [
    'conv2d forward',
    'conv2d forward + backward (dx and dW)',
    'conv2d input gradient',
    'conv2d filter gradient',
    'stock tfjs wasm Conv2DBackpropInput',
    'depthwise forward',
    'depthwise forward + backward',
  ],
  reference: { script: fileURLToPath(new URL('./conv2d_reference.py', import.meta.url)) },
  ours: async () => {
    await initBackend('wasm');
    const rng = new Rng(0);
    const x = rng.normalTensor(X_SHAPE) as tf.Tensor4D;
    const w = rng.normalTensor(W_SHAPE, 0, 0.05) as tf.Tensor4D;
    const dy = rng.normalTensor(X_SHAPE) as tf.Tensor4D;
    const both = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'));
    const gradient = (kernel: string, inputs: Record<string, tf.Tensor>, shape: object) =>
      tf.engine().runKernel(kernel, inputs, { ...CONV_ATTRS, ...shape } as unknown as NamedAttrMap) as tf.Tensor;
    const stockInputGradient = () => {
      const info = stockWasmInputGradient.kernelFunc({
        inputs: { dy, filter: w } as unknown as Record<string, TensorInfo>,
        backend: tf.backend(),
        attrs: { ...CONV_ATTRS, inputShape: X_SHAPE } as unknown as NamedAttrMap,
      }) as TensorInfo;
      return tf.engine().makeTensorFromTensorInfo(info);
    };
    const dx = rng.normalTensor([8, 56, 56, 128]) as tf.Tensor4D;
    const dw = rng.normalTensor([3, 3, 128, 1], 0, 0.1) as tf.Tensor4D;
    const depthwiseBoth = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'),
    );
    return {
      'conv2d forward': () => settle(tf.conv2d(x, w, 1, 'same')),
      'conv2d forward + backward (dx and dW)': () => settle(both([x, w])),
      'conv2d input gradient': () =>
        settle(gradient('Conv2DBackpropInput', { dy, filter: w }, { inputShape: X_SHAPE })),
      'conv2d filter gradient': () => settle(gradient('Conv2DBackpropFilter', { x, dy }, { filterShape: W_SHAPE })),
      'stock tfjs wasm Conv2DBackpropInput': () => settle(stockInputGradient()),
      'depthwise forward': () => settle(tf.depthwiseConv2d(dx, dw, 1, 'same')),
      'depthwise forward + backward': () => settle(depthwiseBoth([dx, dw])),
    };
  },
});
