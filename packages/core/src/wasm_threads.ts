/**
 * Multithreaded wasm in Node. tfjs-backend-wasm ships a threaded SIMD build (XNNPACK on a pthreads pool) but
 * refuses it in Node in four places; each is worked around here, at run time, so that a package installed from
 * the registry gets threads with no patch of tfjs:
 * 1. the WASM_HAS_MULTITHREAD_SUPPORT flag is false whenever IS_NODE: we set it;
 * 2. the pthread worker script is handed over as a `blob:` URL, which worker_threads cannot load: our Worker
 *    class runs the same script text (exported by the package) with `eval: true`, so no file is written;
 * 3. the glue each worker loads is a Blob of a function referring to bundle-scope names: our Worker hands it the
 *    package's self-contained glue file instead;
 * 4. the C++ backend uses half of `os.cpus().length` threads at most (it assumes hyperthreading), so 2 cores
 *    gave 1 thread: while the module starts, `os.cpus()` reports twice the wanted count.
 * And pthreadpool's threads never exit, so emscripten's `worker.ref()` would keep the process alive for ever:
 * our workers stay unref'd. All of this depends on tfjs-backend-wasm's internals, so it runs only on the version
 * it was written against and refuses any other with an error saying what to do.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as NodeFs from 'node:fs';
import type * as NodeOs from 'node:os';
import type * as NodePath from 'node:path';
import type { TransferListItem, Worker } from 'node:worker_threads';
import { nodeBuiltin, nodeRequire } from './node_builtins';
import { gatePoolBySize } from './wasm_pool_gate';

/** The tfjs-backend-wasm version whose internals the threaded start relies on (pinned in package.json). */
export const THREADED_WASM_VERSION = '4.22.0';
/** The environment variable that sets the wasm thread count when `initBackend` gets no `threads` option. */
export const THREADS_ENV = 'DEFORMJS_THREADS';
/** tfjs's C++ backend caps its pool at 8 threads (it starts 8 pthread workers). */
const MAX_THREADS = 8;

/** A thread request that cannot be met: `initBackend('auto')` reports it instead of falling back to cpu. */
export class WasmThreadsError extends Error {
  override name = 'WasmThreadsError';
}

export interface ThreadRequest {
  count: number;
  /** Where the count came from: the `threads` option, DEFORMJS_THREADS, or every available core. */
  source: 'option' | 'env' | 'default';
}

/** The thread count asked for: the option, else DEFORMJS_THREADS, else every available core (at most 8). */
export async function requestedThreads(option: number | undefined): Promise<ThreadRequest> {
  const fromEnv = typeof process !== 'undefined' ? process.env?.[THREADS_ENV] : undefined;
  if (option !== undefined) return { count: checkCount(option, 'options.threads', option), source: 'option' };
  if (fromEnv !== undefined && fromEnv !== '') {
    return { count: checkCount(Number(fromEnv), THREADS_ENV, fromEnv), source: 'env' };
  }
  return { count: Math.min(MAX_THREADS, await availableCores()), source: 'default' };
}

function checkCount(count: number, name: string, given: unknown): number {
  if (!Number.isInteger(count) || count < 1 || count > MAX_THREADS) {
    throw new WasmThreadsError(
      `initBackend: ${name} must be an integer from 1 to ${MAX_THREADS} (the wasm backend's thread count; 1 = ` +
        `tfjs's single-threaded build), got ${JSON.stringify(given)}`,
    );
  }
  return count;
}

async function availableCores(): Promise<number> {
  const os = nodeBuiltin<typeof NodeOs>('node:os');
  return os ? (os.availableParallelism?.() ?? os.cpus().length) : 1;
}

export function isNode(): boolean {
  return typeof process !== 'undefined' && typeof process.versions?.node === 'string';
}

/**
 * Starts tfjs's wasm backend with `request.count` threads (Node only; 1 = the stock single-threaded SIMD
 * build) and returns whether it started (tf.setBackend's answer). When the threaded build cannot start here (no
 * shared memory, the package's files not on disk in a bundle) the default count falls back to one thread with a
 * warning and an asked-for one throws. The count is fixed at the first start: a later `threads` option that
 * differs throws, a later default or DEFORMJS_THREADS takes the running backend as it is.
 */
export async function setWasmBackendWithThreads(request: ThreadRequest): Promise<boolean> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  if (startedWasm() || request.count === 1 || !isNode()) {
    // Already started (the thread count is fixed at the first start), one thread, or a browser (tfjs uses its
    // threaded build by itself in a cross-origin-isolated page).
    if (request.count === 1 && isNode()) tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    const started = await tf.setBackend('wasm');
    if (started && isNode() && request.source === 'option' && wasm.getThreadsCount() !== request.count) {
      throw new WasmThreadsError(
        `initBackend: the wasm backend already runs ${wasm.getThreadsCount()} thread(s) and ${request.count} were ` +
          `asked for: the thread count is fixed when the backend first starts in a process (call initBackend ` +
          `before anything else starts it, with one thread count)`,
      );
    }
    return started;
  }
  const threaded = await threadedBuild(wasm.version_wasm);
  if (typeof threaded === 'string') {
    if (request.source !== 'default')
      throw new WasmThreadsError(`initBackend: ${request.count} wasm threads asked for, but ${threaded}`);
    console.warn(`deformjs: the wasm backend runs on one thread: ${threaded}. Set ${THREADS_ENV}=1 to silence this.`);
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    return tf.setBackend('wasm');
  }
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  wasm.setThreadsCount(request.count);
  const { os, workerThreads, PthreadWorker } = threaded;
  const realCpus = os.cpus;
  const StockWorker = workerThreads.Worker;
  // The module's static constructors read os.cpus().length and halve it; the glue picks up
  // require('worker_threads').Worker as the global Worker while it starts. Both are restored right after.
  os.cpus = () => Array(2 * request.count).fill(realCpus.call(os)[0]);
  workerThreads.Worker = PthreadWorker;
  let started: boolean;
  try {
    started = await tf.setBackend('wasm');
  } finally {
    os.cpus = realCpus;
    workerThreads.Worker = StockWorker;
  }
  if (started) {
    await tf.ready();
    const module = (tf.backend() as unknown as { wasm: Parameters<typeof gatePoolBySize>[0] }).wasm;
    if (!gatePoolBySize(module, threaded.fs.readFileSync(threaded.wasmFile))) {
      console.warn('deformjs: small wasm kernels could not be kept off the thread pool; they will wake its threads');
    }
  }
  return started;
}

interface ThreadedBuild {
  os: typeof NodeOs;
  fs: typeof NodeFs;
  /** The threaded build's module, whose bytes locate the pool pointer (see wasm_pool_gate.ts). */
  wasmFile: string;
  workerThreads: { Worker: typeof Worker };
  PthreadWorker: typeof Worker;
}

/** Throws unless `version` is the tfjs-backend-wasm whose internals the threaded start was written against. */
export function checkWasmVersion(version: string): void {
  if (version !== THREADED_WASM_VERSION) {
    throw new WasmThreadsError(
      `initBackend: wasm threads in Node rely on internals of @tensorflow/tfjs-backend-wasm ${THREADED_WASM_VERSION} ` +
        `(the version @deformjs/core depends on), but ${version} is loaded. Install ` +
        `@tensorflow/tfjs-backend-wasm@${THREADED_WASM_VERSION} (remove the override that changed it), or run on one ` +
        `thread: initBackend('wasm', { threads: 1 }) or ${THREADS_ENV}=1.`,
    );
  }
}

/** What the threaded start needs, or why it cannot start here. */
async function threadedBuild(loadedVersion: string): Promise<ThreadedBuild | string> {
  checkWasmVersion(loadedVersion);
  if (typeof SharedArrayBuffer !== 'function') return 'this Node has no SharedArrayBuffer';
  const require = nodeRequire();
  const path = nodeBuiltin<typeof NodePath>('node:path');
  const fs = nodeBuiltin<typeof NodeFs>('node:fs');
  if (!require || !path || !fs) return 'this Node has no process.getBuiltinModule (Node >= 20.16 has it)';
  let packageDir: string;
  try {
    packageDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  } catch {
    return 'the installed @tensorflow/tfjs-backend-wasm package was not found (a bundle without node_modules?)';
  }
  const installed = (JSON.parse(fs.readFileSync(path.join(packageDir, 'package.json'), 'utf8')) as { version: string })
    .version;
  const glue = path.join(packageDir, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.js');
  const workerModule = path.join(packageDir, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.worker.js');
  if (installed !== THREADED_WASM_VERSION || !fs.existsSync(glue) || !fs.existsSync(workerModule)) {
    return `the threaded build of @tensorflow/tfjs-backend-wasm ${THREADED_WASM_VERSION} was not found in ${packageDir}`;
  }
  // The same escaping tfjs applies before it makes its Blob: the script's string literals hold "\n" escapes.
  const workerSource = (require(workerModule) as { wasmWorkerContents: string }).wasmWorkerContents.replace(
    /\n/g,
    '\\n',
  );
  const os = require('node:os') as typeof NodeOs;
  const workerThreads = require('node:worker_threads') as { Worker: typeof Worker };

  class PthreadWorker extends workerThreads.Worker {
    constructor() {
      super(workerSource, { eval: true });
    }

    // pthreadpool's threads wait for work for ever; emscripten ref()s a worker when it starts a thread on it,
    // which would keep the process from exiting. Loaded workers are unref'd (emscripten does that) and stay so.
    override ref(): void {}

    override postMessage(message: unknown, transferList?: readonly TransferListItem[]) {
      const load = message as { cmd?: string; urlOrBlob?: unknown } | null;
      if (load?.cmd === 'load' && typeof load.urlOrBlob !== 'string') {
        message = { ...load, urlOrBlob: glue };
      }
      super.postMessage(message, transferList);
    }
  }
  const wasmFile = path.join(packageDir, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.wasm');
  return { os, fs, wasmFile, workerThreads, PthreadWorker };
}

/**
 * The thread count of the running wasm backend (XNNPACK's pool: 1 on tfjs's single-threaded build), or null when
 * wasm has not started. Read from the backend itself, so every entry point of this package (each bundles its own
 * copy of this module) answers the same.
 */
export function wasmThreads(): number | null {
  return startedWasm()?.wasm.tfjs.getThreadsCount() ?? null;
}

/**
 * The engine's wasm backend if it has started. (Not tf.findBackend: that starts a registered backend that has not
 * started, here before the thread flags are set.)
 */
function startedWasm(): { wasm: { tfjs: { getThreadsCount(): number } } } | undefined {
  const registry = (tf.engine() as unknown as { registry: Record<string, unknown> }).registry;
  return registry.wasm as { wasm: { tfjs: { getThreadsCount(): number } } } | undefined;
}
