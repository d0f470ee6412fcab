/**
 * Our fused kernels on every wasm thread. On the threaded wasm build the module heap is a SharedArrayBuffer, so
 * a kernel's input and output views can be read and written from worker_threads too: a kernel whose work splits
 * into independent units (units writing disjoint parts of every output, each unit's sums in a fixed order) runs
 * units [0, n) as contiguous blocks, one per thread, the calling thread taking the first. Every split of the units
 * then gives the single-thread result bit for bit. Elsewhere (cpu backend, single-threaded wasm, a browser, one
 * thread) the kernel runs on the calling thread, unchanged.
 *
 * The workers run the kernel's own code: its source text (and that of the classes and functions it calls) is sent
 * once and compiled there, so no file is written and bundling does not matter. A call hands over the views as
 * (type, byte offset, length) of the heap and every other argument as JSON, through shared memory: the workers
 * wait in Atomics.wait and the calling thread blocks until they are done, as a synchronous kernel must.
 * Measured (`packages/sampling`, `npx tsx bench/worker_split.ts`): a dispatch with no work costs about 0.5 ms at a
 * load average of 17 on 2 cores, so only kernels of several milliseconds are split.
 */
import type * as NodeWorkerThreads from 'node:worker_threads';
import type { KernelArray } from './fused';
import { nodeBuiltin } from './node_builtins';
import { isNode, wasmThreads } from './wasm_threads';

/** A kernel written as `run(...args, [firstUnit, endUnit])`, the last argument the range of units it does. */
export interface SplitKernel {
  /** Unique per kernel; the workers compile each once. */
  name: string;
  run: (...args: never[]) => void;
  /** Classes and functions `run` refers to by name (declared before it in the worker, from their source text). */
  uses?: Array<{ name: string }>;
}

// Control words in shared memory: the call's sequence number, how many workers finished it, whether one failed,
// and the length of the JSON call description that follows.
const SEQUENCE = 0;
const DONE = 1;
const FAILED = 2;
const LENGTH = 3;
const HEADER_BYTES = 16;
const CALL_BYTES = 1 << 16;
/** A worker that has not answered within this time is reported instead of being waited on for ever. */
const TIMEOUT_MS = 120_000;

// FAILED holds 1 when a worker could not compile the kernel (the calling thread then does the work itself), 2 when
// the kernel threw; the error text then replaces the call description.
const WORKER_SOURCE = `
const { workerData, receiveMessageOnPort } = require('node:worker_threads');
const { control, call, port, index, threads } = workerData;
const words = new Int32Array(control);
const bytes = new Uint8Array(call);
const sources = new Map();
const kernels = new Map();
let heap = null;
let seen = 0;
function fail(code, error) {
  const text = new TextEncoder().encode(String(error && error.stack || error)).slice(0, bytes.length);
  if (Atomics.compareExchange(words, ${FAILED}, 0, code) === 0) {
    bytes.set(text);
    Atomics.store(words, ${LENGTH}, text.length);
  }
}
for (;;) {
  Atomics.wait(words, ${SEQUENCE}, seen);
  seen = Atomics.load(words, ${SEQUENCE});
  for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) {
    if (m.message.heap) heap = m.message.heap;
    if (m.message.kernel) sources.set(m.message.kernel, m.message.source);
  }
  const task = JSON.parse(new TextDecoder().decode(bytes.slice(0, Atomics.load(words, ${LENGTH}))));
  let kernel = kernels.get(task.kernel);
  if (!kernel) {
    try {
      kernel = new Function(sources.get(task.kernel))();
      kernels.set(task.kernel, kernel);
    } catch (error) {
      fail(1, error);
    }
  }
  if (kernel) {
    try {
      const args = task.args.map((a) =>
        a.type === 'f32' ? new Float32Array(heap, a.offset, a.length)
        : a.type === 'i32' ? new Int32Array(heap, a.offset, a.length)
        : a.value);
      const per = Math.ceil(task.units / threads);
      const first = Math.min(task.units, (index + 1) * per);
      const end = Math.min(task.units, first + per);
      if (first < end) kernel(...args, [first, end]);
    } catch (error) {
      fail(2, error);
    }
  }
  Atomics.add(words, ${DONE}, 1);
  Atomics.notify(words, ${DONE});
}
`;

interface Pool {
  threads: number;
  words: Int32Array;
  bytes: Uint8Array;
  ports: NodeWorkerThreads.MessagePort[];
  compiled: Set<string>;
  heap: SharedArrayBuffer | null;
}

let pool: Pool | null | undefined;

/** The worker pool (threads - 1 workers beside the calling thread), started on first use; null without one. */
function threadPool(): Pool | null {
  if (pool !== undefined) return pool;
  pool = null;
  const threads = wasmThreads() ?? 1;
  if (threads < 2 || !isNode() || typeof SharedArrayBuffer !== 'function') return pool;
  // Reached synchronously (kernels are synchronous) and without an import a browser bundler would resolve.
  const workerThreads = nodeBuiltin<typeof NodeWorkerThreads>('node:worker_threads');
  if (!workerThreads) return pool;
  const control = new SharedArrayBuffer(HEADER_BYTES);
  const call = new SharedArrayBuffer(CALL_BYTES);
  const ports: NodeWorkerThreads.MessagePort[] = [];
  for (let index = 0; index < threads - 1; index++) {
    const { port1, port2 } = new workerThreads.MessageChannel();
    const worker = new workerThreads.Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { control, call, port: port2, index, threads },
      transferList: [port2],
    });
    // The workers wait for calls for ever: they must not keep the process alive.
    worker.unref();
    port1.unref();
    ports.push(port1);
  }
  pool = {
    threads,
    words: new Int32Array(control),
    bytes: new Uint8Array(call),
    ports,
    compiled: new Set(),
    heap: null,
  };
  return pool;
}

/** How many threads `runSplit` would use for a kernel over these arrays: 1 unless they live in shared memory. */
export function splitThreads(arrays: KernelArray[]): number {
  const shared = arrays.length > 0 && arrays.every((a) => a.buffer instanceof SharedArrayBuffer);
  if (!shared || new Set(arrays.map((a) => a.buffer)).size !== 1) return 1;
  return threadPool()?.threads ?? 1;
}

/**
 * Runs `kernel.run(...args, range)` over units [0, units), split across the wasm threads when the arrays among
 * `args` are views of the threaded build's shared heap and the work is worth it (`units` >= 2 and
 * `worthSplitting`); on the calling thread otherwise. Non-array arguments must be JSON values.
 */
export function runSplit(kernel: SplitKernel, args: unknown[], units: number, worthSplitting = true): void {
  const arrays = args.filter((a): a is KernelArray => a instanceof Float32Array || a instanceof Int32Array);
  const threads = worthSplitting && units >= 2 && !unsplittable.has(kernel.name) ? splitThreads(arrays) : 1;
  const run = kernel.run as (...a: unknown[]) => void;
  if (threads < 2) {
    run(...args, [0, units]);
    return;
  }
  const p = pool!;
  const heap = arrays[0].buffer as SharedArrayBuffer;
  for (const port of p.ports) {
    if (p.heap !== heap) port.postMessage({ heap });
    if (!p.compiled.has(kernel.name)) {
      // esbuild's keepNames (tsx) wraps declarations in its __name helper: an identity here.
      const source = [
        'const __name = (target) => target;',
        // As expressions bound to their names: a bundle may hold a class as `var Corners = class { ... }`.
        ...(kernel.uses ?? []).map((used) => `const ${used.name} = (${String(used)});`),
        `return (${String(kernel.run)});`,
      ].join('\n');
      port.postMessage({ kernel: kernel.name, source });
    }
  }
  p.heap = heap;
  p.compiled.add(kernel.name);
  const described = args.map((a) =>
    a instanceof Float32Array || a instanceof Int32Array
      ? { type: a instanceof Float32Array ? 'f32' : 'i32', offset: a.byteOffset, length: a.length }
      : { value: a },
  );
  const text = new TextEncoder().encode(JSON.stringify({ kernel: kernel.name, units, args: described }));
  if (text.length > CALL_BYTES) throw new Error(`runSplit(${kernel.name}): the call description exceeds 64 KB`);
  p.bytes.set(text);
  Atomics.store(p.words, LENGTH, text.length);
  Atomics.store(p.words, DONE, 0);
  Atomics.store(p.words, FAILED, 0);
  Atomics.add(p.words, SEQUENCE, 1);
  Atomics.notify(p.words, SEQUENCE);
  const per = Math.ceil(units / threads);
  run(...args, [0, Math.min(units, per)]);
  const workers = threads - 1;
  const deadline = performance.now() + TIMEOUT_MS;
  for (let done = Atomics.load(p.words, DONE); done < workers; done = Atomics.load(p.words, DONE)) {
    if (performance.now() > deadline) {
      throw new Error(
        `runSplit(${kernel.name}): ${workers - done} worker thread(s) did not finish in ${TIMEOUT_MS} ms`,
      );
    }
    Atomics.wait(p.words, DONE, done, 1000);
  }
  const failed = Atomics.load(p.words, FAILED);
  if (failed === 0) return;
  const error = new TextDecoder().decode(p.bytes.slice(0, Atomics.load(p.words, LENGTH)));
  if (failed === 2) throw new Error(`runSplit(${kernel.name}): a worker thread failed: ${error}`);
  // The kernel's source does not compile on its own (a bundler's helper it refers to, say): run it here from now on.
  unsplittable.add(kernel.name);
  console.warn(`deformjs: ${kernel.name} runs on one thread: its source does not compile in a worker (${error})`);
  run(...args, [Math.min(units, per), units]);
}

/** Kernels whose source did not compile in a worker. */
const unsplittable = new Set<string>();
