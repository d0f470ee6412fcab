import { defineConfig } from 'vitest/config';

// README blocks run against the built packages (`pnpm build` first), one at a time: each starts a backend.
export default defineConfig({
  test: {
    include: ['scripts/readme.test.ts'],
    testTimeout: 300_000,
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
  },
});
