import * as tf from '@tensorflow/tfjs-core';
// After tfjs-core itself: in Node the two load as separate module copies, and the first one builds the engine.
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { hasFusedKernels, initBackend } from '@deformjs/core';
import { assertAllClose, assertNoTensorLeak } from '@deformjs/core/testing';
import { deformConv2d, deformRoIPool } from '../src/index';
import { loadFixture, toTensor } from './helpers';

/**
 * A backend that runs tfjs's cpu kernels under another name, so deformjs's fused kernels are not used: the
 * ops take their composed path, as they do on tensorflow, webgl and webgpu.
 */
async function startBackendWithoutFusedKernels(): Promise<void> {
  await initBackend('cpu');
  if (!tf.findBackend('cpu-composed')) {
    tf.registerBackend('cpu-composed', () => new MathBackendCPU());
    for (const kernel of tf.getKernelsForBackend('cpu')) {
      if (!kernel.kernelName.startsWith('Deformjs')) tf.registerKernel({ ...kernel, backendName: 'cpu-composed' });
    }
  }
  await tf.setBackend('cpu-composed');
}

describe('without fused kernels (the composed sampling path)', () => {
  beforeAll(async () => {
    await startBackendWithoutFusedKernels();
  });

  it('runs deformConv2d with the same results and gradients as torchvision', async () => {
    expect(hasFusedKernels()).toBe(false);
    const name = 'deform_conv2d_3x3.json';
    const f = loadFixture(name);
    const o = f.options as {
      strides: [number, number];
      pad: [number, number];
      dilations: [number, number];
      groups: number;
    };
    const args = [
      toTensor(f.input),
      toTensor(f.offset),
      toTensor(f.weight),
      toTensor(f.mask),
      ...(f.bias ? [toTensor(f.bias)] : []),
    ];
    const gradOutput = toTensor(f.gradOutput);
    await assertNoTensorLeak(() => {
      const run = (...xs: tf.Tensor[]) => deformConv2d(xs[0], xs[1], xs[2], { ...o, mask: xs[3], bias: xs[4] ?? null });
      const out = run(...args);
      assertAllClose(out, f.output.data, { atol: 2e-5, rtol: 1e-4, name: `${name} output` });
      const grads = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(run(...xs), gradOutput)))(args);
      const keys = ['gradInput', 'gradOffset', 'gradWeight', 'gradMask', 'gradBias'];
      grads.forEach((g, i) =>
        assertAllClose(g, f[keys[i]].data, { atol: 1e-4, rtol: 1e-4, name: `${name} ${keys[i]}` }),
      );
      tf.dispose([out, ...grads]);
    });
    tf.dispose([...args, gradOutput]);
  });

  it('runs deformRoIPool with the same results and gradients as the mmcv port', () => {
    const f = loadFixture('mdpool_adaptive.json');
    const o = f.options as { outputSize: [number, number]; spatialScale: number; samplingRatio: number; gamma: number };
    tf.tidy(() => {
      const [input, rois, offset, mask, gradOutput] = [f.input, f.rois, f.offset, f.mask, f.gradOutput].map(toTensor);
      const run = (x: tf.Tensor, off: tf.Tensor, m: tf.Tensor) =>
        deformRoIPool(x, rois, { ...o, offset: off, mask: m });
      assertAllClose(run(input, offset, mask), f.output.data, { atol: 1e-5, rtol: 1e-4, name: 'output' });
      const [dInput, dOffset, dMask] = tf.grads((x: tf.Tensor, off: tf.Tensor, m: tf.Tensor) =>
        tf.sum(tf.mul(run(x, off, m), gradOutput)),
      )([input, offset, mask]);
      assertAllClose(dInput, f.gradInput.data, { atol: 1e-5, rtol: 1e-4, name: 'dinput' });
      assertAllClose(dOffset, f.gradOffset.data, { atol: 1e-4, rtol: 1e-4, name: 'doffset' });
      assertAllClose(dMask, f.gradMask.data, { atol: 1e-5, rtol: 1e-4, name: 'dmask' });
    });
  });
});
