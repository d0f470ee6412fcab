// Every browser package bundled for the browser as a user's app would: esbuild (--platform=browser) and Vite, from
// the packages' built dist (turbo builds them before this test). No warnings, no Node built-in, one tfjs-core.
import { build as esbuild } from 'esbuild';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build as viteBuild, createLogger } from 'vite';
import type { Rollup } from 'vite';
import { describe, expect, it } from 'vitest';
import { browserBundleProblems, nodeOnlyPackages, workspacePackages } from '../../../scripts/browser-bundle.mjs';

const appDir = fileURLToPath(new URL('..', import.meta.url));
const rootDir = join(appDir, '../..');
const packages = workspacePackages(rootDir);
const nodeOnly = nodeOnlyPackages(packages);
const browserPackages = packages.map((p) => p.json.name).filter((name) => !nodeOnly.has(name));

describe('browser bundles of every browser package', () => {
  it('lists every browser package as a dependency of this app (so it is bundled here)', () => {
    const deps = Object.keys(JSON.parse(readFileSync(join(appDir, 'package.json'), 'utf8')).devDependencies);
    expect(browserPackages.filter((name) => !deps.includes(name))).toEqual([]);
    expect(browserPackages.length).toBeGreaterThan(10);
  });

  it.each(browserPackages)('esbuild --platform=browser bundles %s without warnings or Node built-ins', async (name) => {
    expect(await browserBundleProblems(esbuild, appDir, name)).toEqual([]);
  });

  it('Vite builds one app importing every browser package without warnings, with one tfjs-core', async () => {
    const dir = mkdtempSync(join(appDir, '.vite-bundle-'));
    try {
      writeFileSync(join(dir, 'index.html'), '<script type="module" src="./main.js"></script>');
      writeFileSync(
        join(dir, 'main.js'),
        browserPackages.map((name, i) => `import * as m${i} from '${name}';\nconsole.log(m${i});`).join('\n'),
      );
      const warnings: string[] = [];
      const nodeImports: string[] = [];
      const logger = createLogger('warn');
      logger.warn = (message) => void warnings.push(message);
      logger.warnOnce = logger.warn;
      const output = (await viteBuild({
        root: dir,
        configFile: false,
        logLevel: 'warn',
        customLogger: logger,
        // Every `node:` import Vite resolves in code (the chunks' text may hold one inside a string: no import).
        plugins: [
          {
            name: 'record-node-imports',
            enforce: 'pre',
            resolveId: (id) => void (id.startsWith('node:') && nodeImports.push(id)),
          },
        ],
        build: { outDir: join(dir, 'out'), write: false, minify: false, chunkSizeWarningLimit: 1e6 },
      })) as Rollup.RollupOutput | Rollup.RollupOutput[];
      expect(warnings).toEqual([]);
      const chunks = [output]
        .flat()
        .flatMap((o) => o.output)
        .filter((chunk) => chunk.type === 'chunk');
      expect(nodeImports).toEqual([]);
      const modules = chunks.flatMap((chunk) => Object.keys(chunk.modules));
      const tfjsCores = new Set(modules.map((id) => /^(.*node_modules\/@tensorflow\/tfjs-core)\//.exec(id)?.[1]));
      tfjsCores.delete(undefined);
      expect(tfjsCores.size).toBe(1);
      // (tfjs's own `browser` field maps its guarded Node requires to empty modules; Vite warns about any other.)
      expect(modules.filter((id) => id.startsWith('node:'))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
