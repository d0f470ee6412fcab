import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { profileKernels } from '../src/bench';
import { initBackend } from '../src/backend';

describe('profileKernels', () => {
  it('counts each kernel a step runs, per step, slowest first, and leaves no tensor behind', async () => {
    await initBackend('cpu');
    const a = tf.ones([64, 64]);
    const before = tf.memory().numTensors;
    const profiled = await profileKernels(() => {
      tf.tidy(() => {
        tf.add(tf.matMul(tf.matMul(a, a), a), 1).dataSync();
      });
    }, 3);
    expect(tf.memory().numTensors).toBe(before);
    expect(profiled.kernels.BatchMatMul.calls).toBe(2);
    expect(profiled.kernels.Add.calls).toBe(1);
    const ms = Object.values(profiled.kernels).map((k) => k.ms);
    expect(ms).toEqual([...ms].sort((x, y) => y - x));
    expect(profiled.kernelMs).toBeCloseTo(
      ms.reduce((s, x) => s + x, 0),
      1,
    );
    expect(profiled.profiledMs).toBeGreaterThan(0);
    a.dispose();
  });
});
