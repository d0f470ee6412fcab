import * as tf from '@tensorflow/tfjs-core';
import { Rng, initBackend } from '@deformjs/core';
import { TEST_BACKENDS, assertAllClose, assertNoTensorLeak } from '@deformjs/core/testing';
import { describe, expect, it } from 'vitest';
import { deformKernelDepthwise, deformKernelDepthwiseComposed } from '../src/index';

const CASES = [
  { name: 'scope 5, k 3, 1 group', scope: [5, 5], k: 3, stride: 1, padding: 1, dilation: 1, groups: 1, C: 4 },
  {
    name: 'scope 4x6 (odd and even differences), 2 groups',
    scope: [4, 6],
    k: 3,
    stride: 1,
    padding: 1,
    dilation: 1,
    groups: 2,
    C: 6,
  },
  { name: 'stride 2, padding 2, 3 groups', scope: [7, 7], k: 3, stride: 2, padding: 2, dilation: 1, groups: 3, C: 6 },
  { name: 'dilation 2, k 2', scope: [5, 5], k: 2, stride: 1, padding: 1, dilation: 2, groups: 1, C: 5 },
] as const;

describe.each(TEST_BACKENDS)('the fused local Deformable Kernels kernel on %s', (backend) => {
  // The first test of a file also loads every module: minutes on a loaded machine.
  it('starts the backend', async () => {
    expect(await initBackend(backend)).toBe(backend);
  }, 300_000);

  it.each(CASES.map((c) => [c.name, c] as const))(
    'matches the composed path, forward and the three gradients: %s',
    async (_, c) => {
      const rng = new Rng(3);
      const N = 2;
      const input = rng.normalTensor([N, 7, 6, c.C]);
      const weight = rng.normalTensor([c.scope[0], c.scope[1], c.C, 1]);
      const options = { kernelSize: c.k, stride: c.stride, padding: c.padding, dilation: c.dilation };
      const out = (size: number) => Math.floor((size + 2 * c.padding - c.dilation * (c.k - 1) - 1) / c.stride) + 1;
      const shape = [N, out(7), out(6), c.C];
      // Deltas up to 2.5 scope pixels: taps land between scope pixels, on its border and outside it.
      const centred = rng.uniformTensor([N, shape[1], shape[2], 2 * c.k * c.k * c.groups], -2.5, 2.5);
      const cotangent = rng.normalTensor(shape);
      const run = (op: typeof deformKernelDepthwise) => {
        const f = (a: tf.Tensor, w: tf.Tensor, d: tf.Tensor) => tf.sum(tf.mul(op(a, w, d, options), cotangent));
        return { out: op(input, weight, centred, options), grads: tf.grads(f)([input, weight, centred]) };
      };
      await assertNoTensorLeak(() => {
        const fused = run(deformKernelDepthwise);
        const composed = run(deformKernelDepthwiseComposed);
        assertAllClose(fused.out, composed.out, { atol: 1e-5, rtol: 1e-5, name: 'output' });
        ['input', 'weight', 'deltas'].forEach((name, i) =>
          assertAllClose(fused.grads[i], composed.grads[i], { atol: 1e-4, rtol: 1e-4, name: `grad ${name}` }),
        );
        tf.dispose([fused.out, ...fused.grads, composed.out, ...composed.grads]);
      });
      tf.dispose([input, weight, centred, cotangent]);
    },
  );
});
