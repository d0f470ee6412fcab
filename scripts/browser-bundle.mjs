// What a browser bundle of our packages must satisfy, shared by the release test (packages installed from the
// local registry) and apps/demo's bundle test (the workspace's built packages).
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

// Packages for Node alone (files, sharp, worker threads); a package depending on one is Node-only too.
const NODE_ONLY_ROOTS = new Set(['@deformjs/datasets']);

const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));

/** The non-private packages under `root`/packages, as { dir, json }. */
export function workspacePackages(root) {
  return readdirSync(join(root, 'packages'))
    .filter((dir) => existsSync(join(root, 'packages', dir, 'package.json')))
    .map((dir) => ({ dir: join(root, 'packages', dir), json: readJson(join(root, 'packages', dir, 'package.json')) }))
    .filter((p) => !p.json.private);
}

/** Node-only packages: the roots and every package depending on one (directly or through another). */
export function nodeOnlyPackages(packages) {
  const nodeOnly = new Set(NODE_ONLY_ROOTS);
  for (let grew = true; grew;) {
    grew = false;
    for (const p of packages) {
      const deps = Object.keys(p.json.dependencies ?? {});
      if (!nodeOnly.has(p.json.name) && deps.some((d) => nodeOnly.has(d))) {
        nodeOnly.add(p.json.name);
        grew = true;
      }
    }
  }
  return nodeOnly;
}

/**
 * A package's browser entry ("." import condition) bundled by esbuild (`build`, the caller's copy) for the browser
 * with everything it imports, from `resolveDir`. Problems: errors or warnings, Node built-ins reached, and tfjs-core
 * modules from more than one copy.
 */
export async function browserBundleProblems(build, resolveDir, name) {
  // Every `node:` import esbuild meets in code (a string holding one is no import), kept or not: esbuild leaves
  // `await import('node:os')` inside try/catch in the output silently.
  const nodeImports = new Set();
  const recordNodeImports = {
    name: 'record-node-imports',
    setup(b) {
      b.onResolve({ filter: /^node:/ }, (args) => {
        nodeImports.add(args.path);
        return { path: args.path, external: true };
      });
    },
  };
  const result = await build({
    plugins: [recordNodeImports],
    stdin: { contents: `export * from '${name}';`, resolveDir },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    metafile: true,
    logLevel: 'silent',
  }).catch((error) => ({ errors: error.errors, warnings: error.warnings }));
  const messages = (list) => [...new Set((list ?? []).map((m) => m.text))].join('; ');
  if (result.errors?.length) return [`the browser entry does not bundle: ${messages(result.errors)}`];
  const problems = [];
  if (result.warnings?.length) problems.push(`bundling the browser entry warns: ${messages(result.warnings)}`);
  const inputs = Object.keys(result.metafile.inputs);
  const builtins = inputs.filter((input) => input.startsWith('node:'));
  if (builtins.length) problems.push(`the browser entry reaches Node built-ins: ${builtins.join(', ')}`);
  if (nodeImports.size) problems.push(`the browser entry imports Node built-ins: ${[...nodeImports].join(', ')}`);
  const tfjsCopies = new Set(
    inputs.map((input) => /^(.*node_modules\/@tensorflow\/tfjs-core)\//.exec(input)?.[1]).filter(Boolean),
  );
  if (tfjsCopies.size > 1) problems.push(`the browser bundle holds ${tfjsCopies.size} tfjs-core: ${[...tfjsCopies]}`);
  if (tfjsCopies.size === 0 && inputs.some((input) => input.includes('@tensorflow/'))) {
    problems.push('the browser bundle holds tfjs modules but no tfjs-core');
  }
  return problems;
}
