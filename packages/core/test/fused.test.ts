import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { initBackend, registerFusedKernel, runFused, type FusedKernel } from '../src';

// A kernel that writes its owner's number into the output, so the test sees whose code ran.
const kernel = (kernelName: string, owner: string, mark: number): FusedKernel<object> => ({
  kernelName,
  owner,
  outputs: ([shape]) => [{ shape }],
  compute: (_inputs, [out]) => out.fill(mark),
});

describe('registerFusedKernel', () => {
  it('registers once per owner: the same version again is free and keeps the first kernel', async () => {
    await initBackend('cpu');
    registerFusedKernel(kernel('DeformjsTestOwnerSame', '@deformjs/example@1.0.0', 1));
    registerFusedKernel(kernel('DeformjsTestOwnerSame', '@deformjs/example@1.0.0', 2));
    const x = tf.zeros([2]);
    const [y] = runFused('DeformjsTestOwnerSame', { x }, {});
    expect(Array.from(y.dataSync())).toEqual([1, 1]);
    tf.dispose([x, y]);
  });

  it('refuses a second version of the package with an error naming both versions', async () => {
    await initBackend('cpu');
    registerFusedKernel(kernel('DeformjsTestOwnerTwo', '@deformjs/example@0.1.0', 1));
    expect(() => registerFusedKernel(kernel('DeformjsTestOwnerTwo', '@deformjs/example@0.2.0', 2))).toThrow(
      /'DeformjsTestOwnerTwo' is already registered by @deformjs\/example@0\.1\.0, and @deformjs\/example@0\.2\.0 .*npm ls @deformjs\/example/,
    );
    const x = tf.zeros([1]);
    const [y] = runFused('DeformjsTestOwnerTwo', { x }, {});
    expect(Array.from(y.dataSync())).toEqual([1]);
    tf.dispose([x, y]);
  });

  it('shares the record with another copy of core in the process (it lives on globalThis)', () => {
    const record = (globalThis as Record<symbol, unknown>)[Symbol.for('@deformjs/core/fused-kernel-owners')];
    expect(record).toBeInstanceOf(Map);
    expect((record as Map<string, string>).get('DeformjsTestOwnerTwo')).toBe('@deformjs/example@0.1.0');
  });
});
