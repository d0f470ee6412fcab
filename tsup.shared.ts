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
    shims: true,
    ...extra,
  });
}
