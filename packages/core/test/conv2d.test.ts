import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Conv2d, Rng, conv2dNhwc, initBackend } from '../src/index';
import { TEST_BACKENDS, assertAllClose, assertNoTensorLeak, numericalGradient } from '../src/testing';

describe.each(TEST_BACKENDS)('Conv2d on %s', (backend) => {
  beforeAll(async () => {
    await initBackend(backend);
  });

  it('runs a dilated conv with a stride as every stride-th output of the stride-1 conv, with gradients', async () => {
    const rng = new Rng(1);
    const x = rng.uniformTensor([2, 9, 8, 3], -1, 1) as tf.Tensor4D;
    const filter = rng.uniformTensor([3, 2, 3, 4], -1, 1) as tf.Tensor4D;
    const stride: [number, number] = [2, 3];
    const padding: [number, number] = [2, 1];
    const dilation: [number, number] = [2, 3];
    await assertNoTensorLeak(() => {
      const got = conv2dNhwc(x, filter, stride, padding, dilation);
      // tf.conv2d takes a dilation or a stride, not both: subsample its stride-1 output.
      const dense = tf.conv2d(
        x,
        filter,
        1,
        [
          [0, 0],
          [2, 2],
          [1, 1],
          [0, 0],
        ],
        'NHWC',
        dilation,
      );
      const [n, hd, wd, c] = dense.shape;
      const want: number[] = [];
      const values = dense.dataSync();
      for (let b = 0; b < n; b++)
        for (let i = 0; i < hd; i += stride[0])
          for (let j = 0; j < wd; j += stride[1])
            for (let o = 0; o < c; o++) want.push(values[((b * hd + i) * wd + j) * c + o]);
      expect(got.shape).toEqual([n, Math.ceil(hd / stride[0]), Math.ceil(wd / stride[1]), c]);
      assertAllClose(got, want, { atol: 1e-6 });
      tf.dispose([got, dense]);
    });
    const weights = rng.uniformTensor([2, 5, 3, 4], -1, 1);
    const loss = (input: tf.Tensor) =>
      tf.sum(tf.mul(conv2dNhwc(input as tf.Tensor4D, filter, stride, padding, dilation), weights));
    const dx = tf.grad(loss)(x);
    const numeric = numericalGradient((v) => tf.tidy(() => loss(tf.tensor(v, x.shape)).dataSync()[0]), x.dataSync());
    assertAllClose(dx, numeric, { atol: 2e-2, rtol: 1e-2 });
    tf.dispose([x, filter, weights, dx]);
  });

  it("'zeros' starts weight and bias at 0 and draws nothing from rng", () => {
    const rng = new Rng(2);
    const conv = new Conv2d(rng, 3, 5, 3, { init: 'zeros' });
    expect(Array.from(conv.weight.dataSync()).every((v) => v === 0)).toBe(true);
    expect(Array.from(conv.bias!.dataSync())).toEqual([0, 0, 0, 0, 0]);
    expect(rng.state()).toEqual(new Rng(2).state());
    conv.dispose();
  });
});
