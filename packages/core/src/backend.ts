import type * as NodePath from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { registerTrainingKernels } from './kernels/register';
import { nodeBuiltin, nodeRequire } from './node_builtins';
import { requestedThreads, setWasmBackendWithThreads, THREADS_ENV, WasmThreadsError } from './wasm_threads';

export const BACKEND_NAMES = ['auto', 'wasm', 'cpu', 'tensorflow', 'webgl', 'webgpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

/** The environment variable that chooses the backend when `initBackend` is called without one. */
export const BACKEND_ENV = 'DEFORMJS_BACKEND';
/** The environment variable that points the wasm backend at a folder holding its .wasm files. */
export const WASM_PATHS_ENV = 'DEFORMJS_WASM_PATHS';

export interface InitBackendOptions {
  /**
   * Where the wasm backend finds its `.wasm` files: a folder path or URL (a `/` is added if missing), or an object
   * mapping each file name (`tfjs-backend-wasm.wasm`, `tfjs-backend-wasm-simd.wasm`,
   * `tfjs-backend-wasm-threaded-simd.wasm`) to its URL, as a bundler's asset imports give them (tfjs's
   * `setWasmPaths`). In Node they are found from the installed package, so bundled code starts too; in a browser,
   * without it, tfjs looks beside the page's script. Default: the environment variable `DEFORMJS_WASM_PATHS`.
   */
  wasmPaths?: string | Record<string, string>;
  /**
   * The wasm backend's thread count in Node (XNNPACK's pool: matMul, conv2d and the other dense kernels), from 1
   * to 8. Default: the environment variable `DEFORMJS_THREADS`, else every available core (at most 8). `1` opts
   * out: tfjs's stock single-threaded SIMD build. Fixed when wasm first starts in a process. Results do not
   * depend on it (XNNPACK splits work without changing the order of any sum).
   */
  threads?: number;
}

/** The optional native backends, in the order `auto` tries them. */
const NATIVE_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;
/** The package that registers each optional backend when it is imported. */
const OPTIONAL_PACKAGES = {
  webgl: '@tensorflow/tfjs-backend-webgl',
  webgpu: '@tensorflow/tfjs-backend-webgpu',
} as const;

/**
 * Chooses and starts a tfjs backend, registers tfjs's op gradients (which tfjs-core alone leaves out in
 * Node) and deformjs's extra training kernels.
 * `auto` takes tfjs-node-gpu, then tfjs-node when they load, else wasm, else cpu. An explicit name either
 * starts that backend or throws: it never falls back silently. Returns the name of the active backend.
 *
 * cpu and wasm come with core. webgl, webgpu and tensorflow come from optional packages: a backend their import
 * has registered is used as it is (in a bundle, `import '@tensorflow/tfjs-backend-webgl'` before calling this:
 * bundlers cannot follow an import of a package that may be missing), else core imports the package itself
 * (unbundled Node).
 */
export async function initBackend(name?: BackendName, options: InitBackendOptions = {}): Promise<string> {
  const requested = name ?? envBackend();
  if (!(BACKEND_NAMES as readonly string[]).includes(requested)) {
    throw new Error(
      `initBackend: backend must be one of ${BACKEND_NAMES.join(', ')}, got ${JSON.stringify(requested)}`,
    );
  }
  const chosen =
    requested === 'auto'
      ? await startAuto(options)
      : await startNamed(requested as Exclude<BackendName, 'auto'>, options);
  await import('./gradients');
  registerTrainingKernels();
  return chosen;
}

function envBackend(): string {
  const value = typeof process !== 'undefined' ? process.env?.[BACKEND_ENV] : undefined;
  return value && value.length > 0 ? value : 'auto';
}

async function startAuto(options: InitBackendOptions): Promise<string> {
  if (tf.findBackendFactory('tensorflow') && (await tf.setBackend('tensorflow'))) return 'tensorflow';
  for (const pkg of NATIVE_PACKAGES) {
    if (await tryImport(pkg)) {
      if (await tf.setBackend('tensorflow')) return 'tensorflow';
    }
  }
  try {
    return await startNamed('wasm', options);
  } catch (error) {
    if (error instanceof WasmThreadsError) throw error;
    return startNamed('cpu', options);
  }
}

async function startNamed(name: Exclude<BackendName, 'auto'>, options: InitBackendOptions): Promise<string> {
  switch (name) {
    case 'cpu':
      await import('@tensorflow/tfjs-backend-cpu');
      break;
    case 'wasm':
      await prepareWasm(options);
      return startWasm(options);
    case 'tensorflow':
      if (!tf.findBackendFactory(name)) await importNative();
      break;
    case 'webgl':
    case 'webgpu':
      if (!tf.findBackendFactory(name)) await importOptional(OPTIONAL_PACKAGES[name], name);
      break;
  }
  if (!(await tf.setBackend(name))) {
    throw new Error(`initBackend: tf.setBackend('${name}') returned false: the backend failed to start`);
  }
  await tf.ready();
  return name;
}

async function startWasm(options: InitBackendOptions): Promise<string> {
  const threads = await requestedThreads(options.threads);
  if (!(await setWasmBackendWithThreads(threads))) {
    throw new Error(
      `initBackend: tf.setBackend('wasm') returned false: the backend failed to start (are the .wasm files where ` +
        `${WASM_PATHS_ENV} or options.wasmPaths say? ${THREADS_ENV}=1 starts the single-threaded build)`,
    );
  }
  await tf.ready();
  return 'wasm';
}

async function prepareWasm(options: InitBackendOptions): Promise<void> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const paths =
    options.wasmPaths ?? (typeof process !== 'undefined' ? process.env?.[WASM_PATHS_ENV] : undefined) ?? nodeWasmDir();
  // setWasmPaths is only allowed before the backend is first initialised.
  if (paths && !wasmStarted) {
    wasm.setWasmPaths(typeof paths !== 'string' || paths.endsWith('/') ? paths : `${paths}/`);
  }
  wasmStarted = true;
}
let wasmStarted = false;

/** The folder of the installed tfjs-backend-wasm, so that bundled Node code still finds its .wasm files. */
function nodeWasmDir(): string | undefined {
  const path = nodeBuiltin<typeof NodePath>('node:path');
  try {
    const wasmFile = nodeRequire()?.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm');
    return path && wasmFile ? path.dirname(wasmFile) + path.sep : undefined;
  } catch {
    return undefined;
  }
}

async function importNative(): Promise<void> {
  for (const pkg of NATIVE_PACKAGES) {
    if (await tryImport(pkg)) return;
  }
  throw new Error(
    "initBackend: backend 'tensorflow' needs the optional peer dependency @tensorflow/tfjs-node " +
      '(or @tensorflow/tfjs-node-gpu), which is not installed or failed to load. Install it with ' +
      '`npm install @tensorflow/tfjs-node`; its install script downloads libtensorflow, so it needs internet access.',
  );
}

async function importOptional(pkg: string, backend: string): Promise<void> {
  if (!(await tryImport(pkg))) {
    throw new Error(
      `initBackend: backend '${backend}' needs the optional package ${pkg}: install it with ` +
        `\`npm install ${pkg}\`, and in a bundle import it before initBackend (\`import '${pkg}';\`): bundlers ` +
        `cannot follow core's import of an optional package.`,
    );
  }
}

async function tryImport(pkg: string): Promise<boolean> {
  try {
    // A computed specifier keeps bundlers from trying to resolve optional peers at build time (so in a bundle this
    // fails, and the backend must have been registered by the user's own import).
    await import(/* @vite-ignore */ pkg);
    return true;
  } catch {
    return false;
  }
}
