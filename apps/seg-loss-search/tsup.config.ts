import { defineConfig } from 'tsup';

/** The CLI as one ESM file for Node; the packages stay external (initBackend registers tfjs's gradients). */
export default defineConfig({
  entry: ['src/cli.ts'],
  format: ['esm'],
  platform: 'node',
  target: 'es2022',
  sourcemap: true,
  clean: true,
});
