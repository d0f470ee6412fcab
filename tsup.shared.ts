import { defineConfig, type Options } from 'tsup';

/** The one build every package uses: ESM + CJS + d.ts from its listed entry points. */
export function packageBuild(entry: string[] = ['src/index.ts'], extra: Options = {}) {
  return defineConfig({
    entry,
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'es2022',
    splitting: false,
    // CommonJS gets `import.meta.url` shimmed (core and datasets locate files with it). ESM needs no shim, and
    // tsup's ESM shim (`__dirname` from node:path and node:url) would put Node imports into every browser bundle.
    shims: true,
    esbuildOptions(options, { format }) {
      if (format === 'esm') options.inject = options.inject?.filter((file) => !file.endsWith('esm_shims.js'));
    },
    ...extra,
  });
}
