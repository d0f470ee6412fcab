import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const packagesDir = fileURLToPath(new URL('./packages/', import.meta.url));
const appsDir = fileURLToPath(new URL('./apps/', import.meta.url));

// Tests import sibling packages from source, so `pnpm test` needs no build first.
export default defineConfig({
  resolve: {
    alias: [
      // The one app entry another app imports (apps/demo runs apps/detect's inference code in the page).
      { find: /^@deformjs\/detect-app\/browser$/, replacement: `${appsDir}detect/src/browser.ts` },
      {
        find: /^@deformjs\/([a-z0-9-]+)\/([a-z0-9-]+)$/,
        replacement: `${packagesDir}$1/src/$2.ts`,
      },
      { find: /^@deformjs\/([a-z0-9-]+)$/, replacement: `${packagesDir}$1/src/index.ts` },
    ],
  },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // One wasm thread per test process unless DEFORMJS_THREADS says otherwise: turbo runs several packages' suites
    // at once, each in its own fork, so threaded XNNPACK pools would oversubscribe the cores (CI has 2) while the
    // small test shapes gain nothing from a second thread, and every threaded start costs 8 pthread workers.
    env: { DEFORMJS_THREADS: process.env.DEFORMJS_THREADS ?? '1' },
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
  },
});
