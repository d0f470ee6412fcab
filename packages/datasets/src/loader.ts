import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { argumentError, assertInteger, Rng } from '@deformjs/core';
import { collate, type Batch } from './batch';
import { decodeAndTransform, deserializeError, type DecodeTask, type SerializedError } from './pipeline';
import { validateTransforms, type TransformSpec } from './transforms';
import type { ImageRecord, Sample } from './types';

export interface DataLoaderOptions {
  batchSize: number;
  /** Augmentation pipeline; end it with `{ type: 'normalize' }`. */
  transforms: readonly TransformSpec[];
  /** Fixes the order of every epoch and every sample's augmentation. */
  seed: number;
  /** Reshuffle every epoch (default true); false keeps the records' order. */
  shuffle?: boolean;
  /** Drop a last incomplete batch (default false). */
  dropLast?: boolean;
  /** Decode threads (worker_threads); 0 decodes on the calling thread. Default: cores - 1, at least 1, at most 4. */
  workers?: number;
  /** Batches decoded ahead of the consumer (default 2). */
  prefetch?: number;
  /** Decode instance masks (COCO segmentations). */
  masks?: boolean;
}

/** A batch and where it sits in the stream: (epoch, step) is what a checkpoint stores to resume after it. */
export interface LoaderBatch extends Batch {
  epoch: number;
  step: number;
  /** Record indices of the batch's samples. */
  indices: number[];
}

export interface IterateOptions {
  /** First epoch (default 0). */
  epoch?: number;
  /**
   * First step within that epoch (default 0): to resume after a checkpoint taken at (epoch, step), pass
   * step + 1; `stepsPerEpoch` itself means the start of the next epoch.
   */
  step?: number;
  /** Stop before this epoch (default: never stop). */
  untilEpoch?: number;
}

/** murmur3's 32-bit finaliser over a few words: independent seeds per (seed, epoch, item). */
export function mixSeed(...words: number[]): number {
  let h = 0x811c9dc5;
  for (const w of words) {
    h = Math.imul(h ^ (w >>> 0), 0x9e3779b1);
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

export const ORDER_STREAM = 1;
export const AUGMENT_STREAM = 2;

/**
 * Decodes, augments and batches image records ahead of the consumer, on worker threads. The order of every
 * epoch and the augmentation of every sample depend only on (seed, epoch, record), never on timing or the
 * number of workers, so a run is reproducible and resumes exactly from an (epoch, step) pair.
 */
export class DataLoader {
  readonly stepsPerEpoch: number;
  private readonly options: Required<DataLoaderOptions>;
  private pool: WorkerPool | null = null;

  constructor(
    readonly records: readonly ImageRecord[],
    options: DataLoaderOptions,
  ) {
    const op = 'DataLoader';
    assertInteger(op, 'batchSize', options.batchSize, 1);
    assertInteger(op, 'seed', options.seed, 0, 0xffffffff);
    validateTransforms(options.transforms, op);
    const last = options.transforms[options.transforms.length - 1];
    if (last?.type !== 'normalize')
      throw argumentError(
        op,
        'transforms',
        "a pipeline ending with { type: 'normalize' } (batches hold float32 pixels)",
        last?.type ?? 'an empty pipeline',
      );
    if (records.length === 0) throw argumentError(op, 'records', 'at least one record', 'none');
    const workers = options.workers ?? Math.min(4, Math.max(1, availableParallelism() - 1));
    assertInteger(op, 'workers', workers, 0, 64);
    const prefetch = assertInteger(op, 'prefetch', options.prefetch ?? 2, 1);
    this.options = { shuffle: true, dropLast: false, masks: false, ...options, workers, prefetch };
    this.stepsPerEpoch = this.options.dropLast
      ? Math.floor(records.length / options.batchSize)
      : Math.ceil(records.length / options.batchSize);
    if (this.stepsPerEpoch === 0)
      throw argumentError(
        op,
        'batchSize',
        `at most the ${records.length} records when dropLast is set`,
        options.batchSize,
      );
  }

  /** Record indices in the order of `epoch`. */
  order(epoch: number): number[] {
    const indices = Array.from(this.records, (_, i) => i);
    return this.options.shuffle ? new Rng(mixSeed(this.options.seed, epoch, ORDER_STREAM)).shuffle(indices) : indices;
  }

  /** Batches from (epoch, step) on; prefetches `prefetch` batches, across epoch boundaries. */
  async *batches(options: IterateOptions = {}): AsyncGenerator<LoaderBatch> {
    const { epoch = 0, step = 0, untilEpoch = Infinity } = options;
    assertInteger('DataLoader.batches', 'epoch', epoch, 0);
    assertInteger('DataLoader.batches', 'step', step, 0, this.stepsPerEpoch);
    const rollOver = step === this.stepsPerEpoch;
    const positions = this.positions(rollOver ? epoch + 1 : epoch, rollOver ? 0 : step, untilEpoch);
    const window: { epoch: number; step: number; indices: number[]; samples: Promise<Sample[]> }[] = [];
    const fill = () => {
      while (window.length < this.options.prefetch) {
        const next = positions.next();
        if (next.done) return;
        const { epoch, indices } = next.value;
        const samples = Promise.all(indices.map((i) => this.decode(i, epoch)));
        // A failure is reported when its batch is reached, not as an unhandled rejection before that.
        samples.catch(() => undefined);
        window.push({ ...next.value, samples });
      }
    };
    fill();
    while (window.length > 0) {
      const { epoch, step, indices, samples } = window.shift()!;
      const decoded = await samples;
      fill();
      yield { ...collate(decoded), epoch, step, indices };
    }
  }

  /** Stops the decode threads (a later `batches` starts new ones). */
  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = null;
    if (pool) await pool.close();
  }

  private *positions(
    firstEpoch: number,
    firstStep: number,
    untilEpoch: number,
  ): Generator<{ epoch: number; step: number; indices: number[] }> {
    const { batchSize } = this.options;
    for (let epoch = firstEpoch; epoch < untilEpoch; epoch++) {
      const order = this.order(epoch);
      for (let step = epoch === firstEpoch ? firstStep : 0; step < this.stepsPerEpoch; step++) {
        yield { epoch, step, indices: order.slice(step * batchSize, (step + 1) * batchSize) };
      }
    }
  }

  private decode(index: number, epoch: number): Promise<Sample> {
    const task = {
      record: this.records[index],
      transforms: this.options.transforms,
      seed: mixSeed(this.options.seed, epoch, AUGMENT_STREAM, index),
      masks: this.options.masks,
    };
    if (this.options.workers === 0) return decodeAndTransform(task);
    this.pool ??= new WorkerPool(this.options.workers);
    return this.pool.run(task);
  }
}

/**
 * How to start the decode worker: the built decode_worker.js beside this module, or, when running from
 * source (tests, tsx), its TypeScript through tsx's loader. Node 20 applies `--import` hooks to the main
 * thread only, so the worker registers tsx itself, with a tsconfig that maps sibling packages to sources.
 */
function workerEntry(): { script: string | URL; eval: boolean; env: NodeJS.ProcessEnv } {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return { script: new URL('./decode_worker.js', here), eval: false, env: process.env };
  const tsxApi = pathToFileURL(
    createRequire(here)
      .resolve('tsx/esm/api')
      .replace(/\.cjs$/, '.mjs'),
  ).href;
  const entry = new URL('./decode_worker.ts', here).href;
  const script = `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); })`;
  const tsconfig = fileURLToPath(new URL('../tsconfig.src-worker.json', here));
  return { script, eval: true, env: { ...process.env, TSX_TSCONFIG_PATH: tsconfig } };
}

/**
 * Tasks in flight per worker: a second one lets a worker transform one image while sharp decodes the next on
 * its own thread.
 */
const TASKS_PER_WORKER = 2;

interface PoolJob {
  task: Omit<DecodeTask, 'id'>;
  resolve: (s: Sample) => void;
  reject: (e: Error) => void;
  /** Workers that died while running it: a task that kills two is failed, not retried forever. */
  crashes: number;
}

/**
 * A set of decode threads; each takes the next task when it finishes one. A worker that dies (an uncaught
 * error, a native crash, being terminated) is replaced, and its tasks go to another worker once; a task that
 * kills a second worker fails with the error. Replacements are bounded (a worker that cannot start would
 * otherwise be restarted forever): past them the pool shrinks, and fails its queue when no worker is left.
 */
class WorkerPool {
  readonly workers: Worker[] = [];
  /** One entry per free task slot. */
  private readonly idle: Worker[] = [];
  private readonly inFlight = new Map<Worker, number>();
  private readonly queue: PoolJob[] = [];
  private readonly running = new Map<number, { worker: Worker; job: PoolJob }>();
  private readonly entry = workerEntry();
  private replacementsLeft: number;
  private nextId = 0;
  private closing = false;

  constructor(count: number) {
    this.replacementsLeft = 2 * count + 2;
    for (let i = 0; i < count; i++) this.workers.push(this.spawn());
    // Slot-major, so the first tasks spread over all workers.
    for (let slot = 0; slot < TASKS_PER_WORKER; slot++) this.idle.push(...this.workers);
  }

  private spawn(): Worker {
    const worker = new Worker(this.entry.script, { eval: this.entry.eval, env: this.entry.env });
    worker.on('message', (message: { id: number; sample?: Sample; error?: SerializedError }) => {
      const run = this.running.get(message.id)!;
      this.running.delete(message.id);
      if (message.error) run.job.reject(deserializeError(message.error));
      else run.job.resolve(message.sample!);
      this.release(worker);
    });
    worker.on('error', (error) => this.retire(worker, error));
    worker.on('exit', (code) => this.retire(worker, new Error(`exited with code ${code}`)));
    // An idle pool must not keep the process alive; a busy one must.
    worker.unref();
    this.inFlight.set(worker, 0);
    return worker;
  }

  run(task: Omit<DecodeTask, 'id'>): Promise<Sample> {
    return new Promise((resolve, reject) => {
      this.queue.push({ task, resolve, reject, crashes: 0 });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const worker = this.idle.pop()!;
      const job = this.queue.shift()!;
      const id = this.nextId++;
      this.running.set(id, { worker, job });
      const busy = this.inFlight.get(worker)! + 1;
      this.inFlight.set(worker, busy);
      if (busy === 1) worker.ref();
      worker.postMessage({ ...job.task, id });
    }
  }

  private release(worker: Worker): void {
    const busy = this.inFlight.get(worker)! - 1;
    this.inFlight.set(worker, busy);
    if (busy === 0) worker.unref();
    this.idle.push(worker);
    this.dispatch();
  }

  /** Replaces a dead worker and hands its tasks to the others (once per task), or fails them. */
  private retire(worker: Worker, error: Error): void {
    if (this.closing || !this.workers.includes(worker)) return;
    this.workers.splice(this.workers.indexOf(worker), 1);
    this.inFlight.delete(worker);
    for (let i = this.idle.length - 1; i >= 0; i--) if (this.idle[i] === worker) this.idle.splice(i, 1);
    const failure = new Error(`decode worker failed: ${error.message}`);
    const retried: PoolJob[] = [];
    for (const [id, run] of this.running) {
      if (run.worker !== worker) continue;
      this.running.delete(id);
      run.job.crashes++;
      if (run.job.crashes < 2) retried.push(run.job);
      else run.job.reject(failure);
    }
    this.queue.unshift(...retried);
    if (this.replacementsLeft > 0) {
      this.replacementsLeft--;
      const replacement = this.spawn();
      this.workers.push(replacement);
      for (let slot = 0; slot < TASKS_PER_WORKER; slot++) this.idle.push(replacement);
    }
    if (this.workers.length === 0) for (const job of this.queue.splice(0)) job.reject(failure);
    this.dispatch();
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
