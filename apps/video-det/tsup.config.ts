import { defineConfig } from 'tsup';

/** The CLI as one ESM file for Node; the deformjs packages resolve through their built dist. */
export default defineConfig({
  entry: ['src/cli.ts'],
  format: ['esm'],
  platform: 'node',
  target: 'es2022',
  sourcemap: true,
  clean: true,
});
