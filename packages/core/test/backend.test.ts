import * as tf from '@tensorflow/tfjs-core';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { build } from 'tsup';
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
    await expect(initBackend('tensorflow')).rejects.toThrow(
      /@tensorflow\/tfjs-node.*npm install @tensorflow\/tfjs-node/s,
    );
    await expect(initBackend('webgpu')).rejects.toThrow(/@tensorflow\/tfjs-backend-webgpu/);
  });

  it('uses an optional backend that an import has registered, without importing its package', async () => {
    // What a bundle does: \`import '@tensorflow/tfjs-backend-webgpu'\` registers the backend, and core's own import
    // of the package (which bundlers cannot follow) must not be needed. A cpu backend stands in for it here.
    tf.registerBackend('webgpu', () => new MathBackendCPU());
    try {
      expect(await initBackend('webgpu')).toBe('webgpu');
      expect(tf.getBackend()).toBe('webgpu');
    } finally {
      tf.removeBackend('webgpu');
      await initBackend('cpu');
    }
  });

  it('rejects unknown names', async () => {
    await expect(initBackend('gpu' as never)).rejects.toThrow(/one of auto, wasm, cpu/);
  });
});

describe('initBackend in bundled code', () => {
  it("starts wasm from a bundle where tfjs's own .wasm lookup fails", async () => {
    const packageDir = fileURLToPath(new URL('..', import.meta.url));
    // Inside the package, so that the bundle resolves the installed tfjs-backend-wasm the way an app would.
    const dir = mkdtempSync(join(packageDir, '.bundle-test-'));
    try {
      writeFileSync(
        join(dir, 'app.ts'),
        [
          "import * as tf from '@tensorflow/tfjs-core';",
          "import { initBackend } from '@deformjs/core';",
          "initBackend('wasm').then(",
          "  (backend) => console.log(JSON.stringify({ backend, filterKernel: tf.getKernel('Conv2DBackpropFilter', 'wasm') !== undefined })),",
          '  (error) => console.log(JSON.stringify({ error: String(error) })),',
          ');',
        ].join('\n'),
      );
      // The control: plain tfjs in the same bundle looks for the .wasm beside the bundle and fails.
      writeFileSync(
        join(dir, 'control.ts'),
        [
          "import * as tf from '@tensorflow/tfjs-core';",
          "import '@tensorflow/tfjs-backend-wasm';",
          "tf.setBackend('wasm').then((started) => console.log(JSON.stringify({ started })));",
        ].join('\n'),
      );
      await build({
        entry: { app: join(dir, 'app.ts'), control: join(dir, 'control.ts') },
        outDir: join(dir, 'out'),
        format: ['cjs'],
        platform: 'node',
        target: 'node20',
        noExternal: [/.*/],
        shims: true,
        dts: false,
        config: false,
        silent: true,
        esbuildOptions(options) {
          options.alias = { '@deformjs/core': join(packageDir, 'src', 'index.ts') };
        },
      });
      expect(readdirSync(join(dir, 'out')).filter((f) => f.endsWith('.wasm'))).toEqual([]);
      const run = (file: string) => {
        const result = spawnSync(process.execPath, [join(dir, 'out', file)], { encoding: 'utf8', timeout: 60_000 });
        const lines = result.stdout.trim().split('\n');
        return JSON.parse(lines[lines.length - 1]);
      };
      expect(run('control.cjs')).toEqual({ started: false });
      expect(run('app.cjs')).toEqual({ backend: 'wasm', filterKernel: true });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
