import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import type { Options } from 'tsup';

type Plugin = NonNullable<Options['esbuildPlugins']>[number];

/**
 * tfjs-core's op gradients exist only as extensionless ES modules (dist/register_all_gradients.js and
 * dist/gradients/*), which plain Node cannot load, and its Node entry registers none. This plugin bundles
 * those gradient definitions alone: every other tfjs-core module they import (ops, kernel names, the engine,
 * utilities) is taken from the public `@tensorflow/tfjs-core` entry the user installed, so the build holds no
 * engine, tensor class or registry of its own and a process keeps one tfjs-core. A helper the public API lacks
 * is bundled only when it is stateless (the backprop ops, argument conversion); a stateful module would fail
 * the build.
 */
export function tfjsGradients(): Plugin {
  const require = createRequire(import.meta.url);
  const tf = require('@tensorflow/tfjs-core') as Record<string, unknown>;
  const dist = join(dirname(require.resolve('@tensorflow/tfjs-core/package.json')), 'dist');
  const STATEFUL = ['engine.js', 'tensor.js', 'kernel_registry.js', 'environment.js', 'global_util.js', 'index.js'];
  const NAMESPACES = ['backend_util', 'util', 'slice_util', 'broadcast_util'];
  // Internals with a public equivalent under another name.
  const SPECIAL: Record<string, string> = {
    ENGINE: 'tf.engine()',
    getGlobalTensorClass: '() => tf.Tensor',
  };
  const publicName = (name: string): string | undefined => {
    if (SPECIAL[name]) return SPECIAL[name];
    if (name in tf) return `tf.${name}`;
    const ns = NAMESPACES.find((n) => name in (tf[n] as object));
    return ns ? `tf.${ns}.${name}` : undefined;
  };
  /** The names `importer` takes from `specifier`: named imports, or the properties read off a namespace import. */
  const importedNames = (importer: string, specifier: string): string[] => {
    const source = readFileSync(importer, 'utf8');
    const quoted = specifier.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    const named = new RegExp(`import\\s*\\{([^}]*)\\}\\s*from\\s*'${quoted}'`).exec(source);
    if (named)
      return named[1]
        .split(',')
        .map((n) => n.trim().split(/\s+as\s+/)[0])
        .filter(Boolean);
    const namespace = new RegExp(`import\\s*\\*\\s*as\\s+(\\w+)\\s+from\\s*'${quoted}'`).exec(source);
    if (namespace)
      return [...new Set([...source.matchAll(new RegExp(`\\b${namespace[1]}\\.(\\w+)`, 'g'))].map((m) => m[1]))];
    return [];
  };
  return {
    name: 'tfjs-gradients',
    setup(build) {
      build.onResolve({ filter: /^@tensorflow\/tfjs-core\/dist\/register_all_gradients(\.js)?$/ }, () => ({
        path: join(dist, 'register_all_gradients.js'),
      }));
      build.onResolve({ filter: /^\.\.?\// }, (args) => {
        if (!args.importer.startsWith(dist)) return undefined;
        const target = resolve(args.resolveDir, `${args.path}.js`);
        const file = relative(dist, target);
        if (file.startsWith('gradients/')) return { path: target };
        const names = importedNames(args.importer, args.path);
        if (names.every((n) => publicName(n))) {
          return { path: `${target}?${names.join(',')}`, namespace: 'tfjs-public' };
        }
        if (STATEFUL.includes(file)) {
          const missing = names.filter((n) => !publicName(n));
          throw new Error(
            `tfjs-gradients: ${relative(dist, args.importer)} needs ${missing} from ${file}, which is stateful`,
          );
        }
        return { path: target };
      });
      build.onLoad({ filter: /.*/, namespace: 'tfjs-public' }, (args) => {
        const names = args.path.split('?')[1].split(',').filter(Boolean);
        const lines = names.map((n) => `export const ${n} = ${publicName(n)};`);
        return {
          contents: `import * as tf from '@tensorflow/tfjs-core';\n${lines.join('\n')}\n`,
          loader: 'js',
          resolveDir: dist,
        };
      });
    },
  };
}
