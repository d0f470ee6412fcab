import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'tsup';
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
});
