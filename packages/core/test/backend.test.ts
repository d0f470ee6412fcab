import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { initBackend } from '../src/index';

describe('initBackend', () => {
  it('starts wasm and cpu by name', async () => {
    expect(await initBackend('wasm')).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(await initBackend('cpu')).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
  });

  it('auto falls to wasm when the native peers are absent', async () => {
    expect(await initBackend('auto')).toBe('wasm');
  });

  it('reads the backend from DEFORMJS_BACKEND', async () => {
    process.env.DEFORMJS_BACKEND = 'cpu';
    try {
      expect(await initBackend()).toBe('cpu');
    } finally {
      delete process.env.DEFORMJS_BACKEND;
    }
  });

  it('names the missing optional peer and how to install it', async () => {
    await expect(initBackend('tensorflow')).rejects.toThrow(/@tensorflow\/tfjs-node.*npm install @tensorflow\/tfjs-node/s);
    await expect(initBackend('webgpu')).rejects.toThrow(/@tensorflow\/tfjs-backend-webgpu/);
  });

  it('rejects unknown names', async () => {
    await expect(initBackend('gpu' as never)).rejects.toThrow(/one of auto, wasm, cpu/);
  });
});
