import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'tsup';
import { tfjsGradients } from '../tfjs_gradients_plugin';
import { describe, expect, it } from 'vitest';

describe('op gradients in plain Node', () => {
  it("initBackend registers them although tfjs-core's Node entry has none", async () => {
    const packageDir = fileURLToPath(new URL('..', import.meta.url));
    const dir = mkdtempSync(join(packageDir, '.gradients-test-'));
    try {
      const script = (importCore: boolean) =>
        [
          "import * as tf from '@tensorflow/tfjs-core';",
          "import '@tensorflow/tfjs-backend-cpu';",
          importCore ? "import { initBackend } from '@deformjs/core';" : '',
          `const start = ${importCore ? "initBackend('cpu')" : "tf.setBackend('cpu')"};`,
          'start.then(() => {',
          '  const dx = tf.grad((x) => tf.sum(tf.square(x)))(tf.tensor([1, -2]));',
          '  console.log(JSON.stringify({ conv2d: tf.getGradient("Conv2D") !== undefined, dx: Array.from(dx.dataSync()) }));',
          '}).catch((error) => console.log(JSON.stringify({ error: String(error.message) })));',
        ].join('\n');
      writeFileSync(join(dir, 'app.ts'), script(true));
      writeFileSync(join(dir, 'control.ts'), script(false));
      // tfjs-core stays external, loaded from node_modules as a published consumer would load it; core is
      // bundled with the rule of its own build.
      await build({
        entry: { app: join(dir, 'app.ts'), control: join(dir, 'control.ts') },
        outDir: join(dir, 'out'),
        format: ['esm'],
        platform: 'node',
        target: 'node20',
        external: [/^@tensorflow\/tfjs-(core|backend-cpu|backend-wasm)$/],
        noExternal: [/^@deformjs\//, /^@tensorflow\/tfjs-core\/dist\/register_all_gradients/],
        esbuildPlugins: [tfjsGradients()],
        dts: false,
        config: false,
        silent: true,
        esbuildOptions(options) {
          options.alias = { '@deformjs/core': join(packageDir, 'src', 'index.ts') };
        },
      });
      const run = (file: string) => {
        const result = spawnSync(process.execPath, [join(dir, 'out', file)], { encoding: 'utf8', timeout: 60_000 });
        const lines = result.stdout.trim().split('\n');
        return JSON.parse(lines[lines.length - 1]);
      };
      expect(run('control.js')).toMatchObject({ error: expect.stringMatching(/gradient/i) });
      expect(run('app.js')).toEqual({ conv2d: true, dx: [2, -4] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("core's build holds no copy of tfjs-core: bundled with tfjs-core, one engine, tensor class and registry", async () => {
    const packageDir = fileURLToPath(new URL('..', import.meta.url));
    const dir = mkdtempSync(join(packageDir, '.bundle-test-'));
    try {
      // Core built as its tsup.config.ts builds it: tfjs-core and the backends external, the gradients plugin.
      await build({
        entry: { index: join(packageDir, 'src', 'index.ts') },
        outDir: join(dir, 'core'),
        format: ['esm'],
        splitting: false,
        target: 'es2022',
        external: [/^@tensorflow\/tfjs-(core|backend-cpu|backend-wasm)$/],
        noExternal: [/^@tensorflow\/tfjs-core\/dist\/register_all_gradients/],
        esbuildPlugins: [tfjsGradients()],
        metafile: true,
        dts: false,
        config: false,
        silent: true,
      });
      const coreInputs = Object.keys(readJson(join(dir, 'core', 'metafile-esm.json')).inputs);
      // Inputs in the plugin's tfjs-public namespace are re-exports of the public entry, not copies.
      const copied = coreInputs.filter(
        (input) => !input.startsWith('tfjs-public:') && input.includes('@tensorflow/tfjs-core/dist/'),
      );
      const helpers = copied.filter((input) => !/\/dist\/(gradients\/|register_all_gradients)/.test(input));
      // Beside the gradient definitions, only stateless helpers the public API lacks (backprop ops, conversion).
      expect(helpers.map((input) => input.replace(/.*tfjs-core\/dist\//, '')).sort()).toEqual(
        expect.arrayContaining(['ops/max_pool_grad.js', 'tensor_util_env.js']),
      );
      for (const input of helpers) {
        expect(input).toMatch(/tfjs-core\/dist\/(ops\/\w+(_grad|_backprop\w*)\.js|tensor_util_env\.js|types\.js)$/);
      }

      // An app bundled whole (as for a browser) from that build and tfjs-core.
      writeFileSync(
        join(dir, 'app.js'),
        "import * as tf from '@tensorflow/tfjs-core';\nimport { initBackend } from './core/index.js';\nexport { tf, initBackend };\n",
      );
      await build({
        entry: { app: join(dir, 'app.js') },
        outDir: join(dir, 'out'),
        format: ['esm'],
        platform: 'browser',
        target: 'es2022',
        splitting: false,
        noExternal: [/.*/],
        metafile: true,
        dts: false,
        config: false,
        silent: true,
      });
      const appInputs = Object.keys(readJson(join(dir, 'out', 'metafile-esm.json')).inputs);
      const roots = appInputs
        .filter((input) => input.includes('@tensorflow/tfjs-core/'))
        .map((input) => input.slice(0, input.indexOf('@tensorflow/tfjs-core/')));
      expect(new Set(roots).size).toBe(1);
      const bundle = readFileSync(join(dir, 'out', 'app.js'), 'utf8');
      // One definition each of the engine factory, the tensor class and the kernel registry (names esbuild may
      // rename, so count statements that only those modules hold).
      const count = (pattern: RegExp) => bundle.match(pattern)?.length ?? 0;
      expect(count(/function getOrMakeEngine\d*\(/g)).toBe(1);
      expect(count(/Tensor is disposed\./g)).toBe(1);
      expect(count(/getGlobal\d*\(\s*["']kernelRegistry["']/g)).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function readJson(path: string): { inputs: Record<string, unknown> } {
  return JSON.parse(readFileSync(path, 'utf8'));
}
