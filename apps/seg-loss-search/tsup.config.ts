import { defineConfig } from 'tsup';

/**
 * The CLI as one ESM file for Node. tfjs-core's gradients exist only in its extensionless ESM build
 * (dist/register_all_gradients.js), which Node cannot load directly: esbuild bundles that one subtree here;
 * it registers into tfjs's global registry, shared with the packaged tfjs-core everything else uses.
 */
export default defineConfig({
  entry: ['src/cli.ts'],
  format: ['esm'],
  platform: 'node',
  target: 'es2022',
  sourcemap: true,
  clean: true,
  noExternal: [/^@tensorflow\/tfjs-core\/dist\//],
});
