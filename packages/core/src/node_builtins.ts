import type * as NodeModule from 'node:module';

/**
 * A Node built-in module, or undefined outside Node (and on Node before 20.16). It is read through
 * `process.getBuiltinModule` instead of imported, so a browser bundle of core holds no Node import at all:
 * esbuild and Vite have nothing to fail on, warn about or replace with an empty module.
 */
export function nodeBuiltin<T>(id: `node:${string}`): T | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  return typeof proc?.getBuiltinModule === 'function' ? (proc.getBuiltinModule(id) as T) : undefined;
}

/** `require` for resolving installed packages' files from core's own location, or undefined outside Node. */
export function nodeRequire(): NodeRequire | undefined {
  return nodeBuiltin<typeof NodeModule>('node:module')?.createRequire(import.meta.url);
}
