/**
 * DCNv2 on wasm against torchvision's CPU kernel: input 1x64x64x256, 3x3, 256 filters, padding 1, offsets
 * uniform in [-2, 2], sigmoid mask; forward, and forward + backward (gradients for input, offset, mask, weight and
 * bias); a plain conv (tf.conv2d on wasm, torch's conv2d) as the dense baseline. Interleaved round by round by
 * @deformjs/core's interleavedBench: ours at 1 and 2 wasm threads, PyTorch at 1 and 2 threads with
 * OMP_WAIT_POLICY=PASSIVE, persistent processes, median of the per-round ratios, CPU time / wall time per side.
 * Run after `pnpm build`: pnpm bench
 */
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { Rng, initBackend } from '@deformjs/core';
import { interleavedBench } from '@deformjs/core/bench';
import { settled } from '@deformjs/core/node';
import { deformConv2d } from '../src/index';

await interleavedBench({
  file: 'dcn',
  title: 'DCNv2 and conv2d, input 1x64x64x256, 3x3, 256 filters, padding 1 (PyTorch: torchvision deform_conv2d)',
  cases: ['DCNv2 forward', 'DCNv2 forward + backward', 'conv2d forward', 'conv2d forward + backward'],
  reference: { script: fileURLToPath(new URL('./reference.py', import.meta.url)) },
  ours: async () => {
    await initBackend('wasm');
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
    return {
      'DCNv2 forward': settled(() => dcn(x, offset, mask, weight, bias)),
      'DCNv2 forward + backward': settled(() =>
        tf.grads((...a: tf.Tensor[]) => tf.sum(dcn(a[0], a[1], a[2], a[3], a[4])))([x, offset, mask, weight, bias]),
      ),
      'conv2d forward': settled(() => conv(x, weight, bias)),
      'conv2d forward + backward': settled(() =>
        tf.grads((...a: tf.Tensor[]) => tf.sum(conv(a[0], a[1], a[2])))([x, weight, bias]),
      ),
    };
  },
});
