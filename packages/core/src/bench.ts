import { fork, spawn, type ChildProcess } from 'node:child_process';
import { cpus, availableParallelism, loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { getBackend, profile } from '@tensorflow/tfjs-core';
import { REFERENCE_PYTHON, hasTorch, reportBench } from './node';
import { wasmThreads } from './wasm_threads';

/** What `profileKernels` measured, per step. */
export interface KernelProfile {
  /** Wall and CPU milliseconds of a step under the profiler (CPU: this process, all threads). */
  profiledMs: number;
  profiledCpuMs: number;
  /** The kernels' own milliseconds, summed. */
  kernelMs: number;
  /** Each kernel's calls and milliseconds per step, slowest first. */
  kernels: Record<string, { calls: number; ms: number }>;
}

/**
 * Where a step's time goes: runs `step` `steps` times under tf.profile and adds up each kernel's calls and time.
 * Warm the step up first (the first calls compile and allocate). The profiler waits for every kernel, so the
 * profiled step is slower than a plain one: time that separately.
 */
export async function profileKernels(step: () => void, steps: number): Promise<KernelProfile> {
  const byKernel = new Map<string, { calls: number; ms: number }>();
  let wall = 0;
  let cpu = 0;
  for (let s = 0; s < steps; s++) {
    const cpuStart = process.cpuUsage();
    const start = performance.now();
    const info = await profile(step);
    wall += performance.now() - start;
    const used = process.cpuUsage(cpuStart);
    cpu += (used.user + used.system) / 1000;
    for (const kernel of info.kernels) {
      const entry = byKernel.get(kernel.name) ?? { calls: 0, ms: 0 };
      entry.calls++;
      entry.ms += (await kernel.kernelTimeMs) as number;
      byKernel.set(kernel.name, entry);
    }
  }
  const kernelMs = [...byKernel.values()].reduce((a, e) => a + e.ms, 0);
  return {
    profiledMs: round2(wall / steps),
    profiledCpuMs: round2(cpu / steps),
    kernelMs: round2(kernelMs / steps),
    kernels: Object.fromEntries(
      [...byKernel.entries()]
        .sort((a, b) => b[1].ms - a[1].ms)
        .map(([name, e]) => [name, { calls: e.calls / steps, ms: round2(e.ms / steps) }]),
    ),
  };
}

/** Set in the processes `interleavedBench` starts for our side; they serve timings instead of coordinating. */
const WORKER_ENV = 'DEFORMJS_BENCH_WORKER';

/**
 * A selection of a bench file's cases, given by whoever starts it (the repository's `bench:targets` runs several
 * packages' benches this way): `DEFORMJS_BENCH_CASES`, a JSON array of case names (the file's other cases are
 * skipped; names it lacks are ignored), `DEFORMJS_BENCH_ROUNDS` and `DEFORMJS_BENCH_WARMUP`, and
 * `DEFORMJS_BENCH_DIR`, the folder whose `bench-results/` receives the JSON instead of the package's own.
 */
export function benchSelection(
  spec: Pick<InterleavedBenchSpec, 'cases' | 'rounds' | 'warmup'>,
  env: Record<string, string | undefined> = process.env,
): { cases: string[]; rounds: number; warmup: number; dir: string } {
  const count = (name: string, fallback: number, least: number) => {
    const text = env[name];
    if (text === undefined || text === '') return fallback;
    const value = Number(text);
    if (!Number.isInteger(value) || value < least) {
      throw new Error(`interleavedBench: ${name} must be an integer >= ${least}, got ${JSON.stringify(text)}`);
    }
    return value;
  };
  let cases = spec.cases;
  const selected = env.DEFORMJS_BENCH_CASES;
  if (selected) {
    let names: unknown;
    try {
      names = JSON.parse(selected);
    } catch {
      names = null;
    }
    if (!Array.isArray(names) || !names.every((n) => typeof n === 'string')) {
      throw new Error(`interleavedBench: DEFORMJS_BENCH_CASES must be a JSON array of case names, got ${selected}`);
    }
    cases = spec.cases.filter((c) => names.includes(c));
  }
  return {
    cases,
    rounds: count('DEFORMJS_BENCH_ROUNDS', spec.rounds ?? 7, 1),
    warmup: count('DEFORMJS_BENCH_WARMUP', spec.warmup ?? 2, 0),
    dir: env.DEFORMJS_BENCH_DIR || process.cwd(),
  };
}

/** One case of a side: runs the work once and returns when it is done (results read back). */
export type BenchCase = () => unknown | Promise<unknown>;

export interface InterleavedBenchSpec {
  /** `bench-results/<file>.json`. */
  file: string;
  /** One line saying what is measured (printed and stored). */
  title: string;
  /** The cases, in the order a round runs them. */
  cases: string[];
  /**
   * Our side, built in each of our worker processes (one per thread count, `DEFORMJS_THREADS` set): start the
   * backend, make the inputs, return one function per case.
   */
  ours: () => Promise<Record<string, BenchCase>>;
  /**
   * The PyTorch side: a Python file defining `cases(*args)` that returns `{case name: function}` (a case it lacks
   * is ours only). It must not set thread counts: the harness does.
   */
  reference?: { script: string; args?: string[] };
  /** Our wasm thread counts; default 1 and every core. */
  oursThreads?: number[];
  /** PyTorch's thread counts; default 1 and every core. */
  referenceThreads?: number[];
  /**
   * Ratios between two of our own cases, [numerator, denominator] (a part of a computation against the whole, a
   * cheap variant against a full one): per our side, the median of the per-round ratios with min-max, stored as
   * `caseRatios`. Both cases run in every round, so load that slows a round slows both. Pairs with a case not
   * selected are skipped.
   */
  caseRatios?: ReadonlyArray<readonly [string, string]>;
  /** Timed rounds (default 7) after warm-up rounds (default 2). */
  rounds?: number;
  warmup?: number;
}

interface Timing {
  ms: number;
  cpuMs: number;
}

/** A persistent worker process: one case name in, one timing out. */
interface Side {
  label: string;
  kind: 'ours' | 'reference';
  threads: number;
  /** The OpenMP settings a PyTorch worker saw in its own environment (they decide whether waiting threads spin). */
  openmp?: { OMP_WAIT_POLICY: string | null; OMP_NUM_THREADS: string | null };
  cases: Set<string>;
  run(caseName: string): Promise<Timing>;
  close(): void;
}

/**
 * A benchmark that cannot mislead: our side and PyTorch each run in persistent worker processes (ours at each
 * wasm thread count, PyTorch at each thread count with `OMP_WAIT_POLICY=PASSIVE`, so waiting threads do not spin
 * on a shared machine), one at a time, case by case, with the order of the sides rotating round by round. Every
 * round yields one ratio ours / PyTorch per pair of sides; the report gives their median with min-max, each
 * side's median time and CPU time / wall time (how many cores it kept busy), the threads of each side, the
 * OpenMP settings each PyTorch worker saw, the 1-minute load average of every round, and `caseRatios` between
 * our own cases. The bench file calls this once; in our worker processes (the same file, started again) the call
 * serves timings and never returns.
 */
export async function interleavedBench(spec: InterleavedBenchSpec): Promise<void> {
  if (process.env[WORKER_ENV]) return serveOurs(spec);
  const { cases, rounds, warmup, dir } = benchSelection(spec);
  if (cases.length === 0) {
    console.log(`${spec.title}: no case selected by DEFORMJS_BENCH_CASES`);
    return;
  }
  const cores = availableParallelism();
  const oursThreads = spec.oursThreads ?? distinct([1, cores]);
  const referenceThreads = spec.referenceThreads ?? distinct([1, cores]);
  const sides: Side[] = [];
  try {
    for (const threads of oursThreads) sides.push(await startOurs(threads));
    if (spec.reference && hasTorch()) {
      for (const threads of referenceThreads) sides.push(await startReference(spec.reference, threads));
    } else if (spec.reference) console.log('PyTorch is not available here: our side only');
    console.log(
      `${spec.title}\n${cpus()[0]?.model ?? 'cpu'}, ${cores} cores; sides: ${sides.map((s) => s.label).join(', ')}`,
    );

    const times = new Map<string, Timing[]>();
    const key = (side: Side, caseName: string) => `${side.label}\u0000${caseName}`;
    const loads: number[] = [];
    for (let round = -warmup; round < rounds; round++) {
      const load = loadavg()[0];
      // Rotate which side goes first, so that none always follows the same neighbour.
      const shift = (((round + warmup) % sides.length) + sides.length) % sides.length;
      const order = [...sides.slice(shift), ...sides.slice(0, shift)];
      const line: string[] = [];
      for (const caseName of cases) {
        for (const side of order) {
          if (!side.cases.has(caseName)) continue;
          const timing = await side.run(caseName);
          if (round >= 0) {
            const k = key(side, caseName);
            times.set(k, [...(times.get(k) ?? []), timing]);
          }
          line.push(`${side.label} ${timing.ms.toFixed(0)}`);
        }
      }
      if (round >= 0) loads.push(load);
      console.log(
        `${round < 0 ? 'warm-up' : `round ${round + 1}/${rounds}`}, load ${load.toFixed(2)}: ${line.join(', ')} ms`,
      );
    }

    const rows: object[] = [];
    for (const caseName of cases) {
      const ours = sides.filter((s) => s.kind === 'ours' && s.cases.has(caseName));
      const references = sides.filter((s) => s.kind === 'reference' && s.cases.has(caseName));
      const summary = (side: Side) => {
        const t = times.get(key(side, caseName))!;
        return {
          ms: median(t.map((x) => x.ms)),
          cpuPerWall: median(t.map((x) => x.cpuMs / x.ms)),
        };
      };
      const bestReference = references.length
        ? references.reduce((a, b) => (summary(a).ms <= summary(b).ms ? a : b))
        : undefined;
      for (const mine of ours) {
        const m = summary(mine);
        if (references.length === 0) {
          rows.push({
            case: caseName,
            ours: mine.label,
            reference: null,
            oursMs: round2(m.ms),
            referenceMs: null,
            ratio: null,
            ratioMin: null,
            ratioMax: null,
            oursCpuPerWall: round2(m.cpuPerWall),
            referenceCpuPerWall: null,
          });
        }
        for (const reference of references) {
          const r = summary(reference);
          const mineTimes = times.get(key(mine, caseName))!;
          const theirTimes = times.get(key(reference, caseName))!;
          const ratios = roundRatios(
            mineTimes.map((t) => t.ms),
            theirTimes.map((t) => t.ms),
          );
          rows.push({
            case: caseName,
            ours: mine.label,
            reference: reference.label + (reference === bestReference ? ' (best)' : ''),
            oursMs: round2(m.ms),
            referenceMs: round2(r.ms),
            ...ratios,
            oursCpuPerWall: round2(m.cpuPerWall),
            referenceCpuPerWall: round2(r.cpuPerWall),
          });
        }
      }
    }
    console.log('ratio = ours / PyTorch, median of the per-round ratios (min-max); cpuPerWall = CPU time / wall time');
    reportBench(spec.file, rows, dir, {
      title: spec.title,
      rounds,
      warmupRounds: warmup,
      cpu: cpus()[0]?.model,
      cores,
      loadAverage1mPerRound: loads.map(round2),
      sides: sides.map((s) => s.label),
      referenceOpenmp: Object.fromEntries(sides.filter((s) => s.openmp).map((s) => [s.label, s.openmp])),
      caseRatios: (spec.caseRatios ?? [])
        .filter((pair) => pair.every((c) => cases.includes(c)))
        .flatMap(([numerator, denominator]) =>
          sides
            .filter((s) => s.kind === 'ours')
            .map((side) => ({
              numerator,
              denominator,
              side: side.label,
              ...roundRatios(
                times.get(key(side, numerator))!.map((t) => t.ms),
                times.get(key(side, denominator))!.map((t) => t.ms),
              ),
            })),
        ),
    });
    const sorted = [...loads].sort((a, b) => a - b);
    console.log(
      `load average (1 min) over the rounds: min ${round2(sorted[0])}, median ${round2(median(loads))}, max ${round2(sorted[sorted.length - 1])}`,
    );
  } finally {
    sides.forEach((s) => s.close());
  }
}

/** Our side, in a worker process: build the cases, report the backend and threads, then time on request. */
async function serveOurs(spec: InterleavedBenchSpec): Promise<never> {
  const cases = await spec.ours();
  const send = (message: object) => process.send!(message);
  process.on('message', async (message: { case: string }) => {
    const run = cases[message.case];
    const cpuStart = process.cpuUsage();
    const start = performance.now();
    await run();
    const ms = performance.now() - start;
    const cpu = process.cpuUsage(cpuStart);
    send({ ms, cpuMs: (cpu.user + cpu.system) / 1000 });
  });
  process.on('disconnect', () => process.exit(0));
  send({ ready: true, backend: getBackend(), threads: wasmThreads() ?? 1, cases: Object.keys(cases) });
  return new Promise<never>(() => {});
}

async function startOurs(threads: number): Promise<Side> {
  const child = fork(process.argv[1], process.argv.slice(2), {
    env: { ...process.env, [WORKER_ENV]: '1', DEFORMJS_THREADS: String(threads) },
    execArgv: process.execArgv,
  });
  const pending: { resolve: (message: unknown) => void; reject: (error: Error) => void }[] = [];
  child.on('message', (message) => pending.shift()?.resolve(message));
  child.on('exit', (code) => {
    for (const p of pending.splice(0)) p.reject(new Error(`our bench worker (${threads} threads) exited with ${code}`));
  });
  const next = () => new Promise<unknown>((resolve, reject) => pending.push({ resolve, reject }));
  const hello = (await next()) as { backend: string; threads: number; cases: string[] };
  if (hello.backend === 'wasm' && hello.threads !== threads) {
    closeChild(child);
    throw new Error(`our bench worker asked for ${threads} wasm threads and got ${hello.threads}`);
  }
  return {
    label: `ours ${hello.backend} ${hello.threads}t`,
    kind: 'ours',
    threads: hello.threads,
    cases: new Set(hello.cases),
    run: (caseName) => {
      const reply = next() as Promise<Timing>;
      child.send({ case: caseName });
      return reply;
    },
    close: () => closeChild(child),
  };
}

/**
 * The Python side of the line protocol: imports the reference file after fixing the thread count, prints a
 * hello line, then for each case name read from stdin runs it once and prints its wall and CPU milliseconds.
 */
const DRIVER = `
import importlib.util, json, os, sys, time
import torch
threads = int(os.environ['DEFORMJS_BENCH_TORCH_THREADS'])
torch.set_num_threads(threads)
protocol, sys.stdout = sys.stdout, sys.stderr
path = sys.argv[1]
sys.argv = sys.argv[1:]
spec = importlib.util.spec_from_file_location('reference', path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
cases = module.cases(*sys.argv[1:])
if torch.get_num_threads() != threads:
    raise SystemExit(f'{path} changed the thread count to {torch.get_num_threads()}: the harness sets it')
def send(message):
    protocol.write(json.dumps(message) + '\\n')
    protocol.flush()
openmp = {name: os.environ.get(name) for name in ('OMP_WAIT_POLICY', 'OMP_NUM_THREADS')}
send({'ready': True, 'threads': torch.get_num_threads(), 'torch': torch.__version__, 'openmp': openmp, 'cases': list(cases)})
for line in sys.stdin:
    fn = cases[line.strip()]
    cpu, start = time.process_time(), time.perf_counter()
    fn()
    send({'ms': (time.perf_counter() - start) * 1000, 'cpuMs': (time.process_time() - cpu) * 1000})
`;

async function startReference(reference: { script: string; args?: string[] }, threads: number): Promise<Side> {
  const child = spawn(REFERENCE_PYTHON, ['-c', DRIVER, reference.script, ...(reference.args ?? [])], {
    env: {
      ...process.env,
      DEFORMJS_BENCH_TORCH_THREADS: String(threads),
      OMP_NUM_THREADS: String(threads),
      MKL_NUM_THREADS: String(threads),
      OMP_WAIT_POLICY: 'PASSIVE',
    },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async () => {
    const { value, done } = await lines.next();
    if (done) throw new Error(`${reference.script} (${threads} threads) exited`);
    return JSON.parse(value) as Record<string, unknown>;
  };
  const hello = (await next()) as { threads: number; torch: string; openmp: Side['openmp']; cases: string[] };
  return {
    label: `torch ${hello.torch.split('+')[0]} ${hello.threads}t`,
    kind: 'reference',
    threads: hello.threads,
    openmp: hello.openmp,
    cases: new Set(hello.cases),
    run: async (caseName) => {
      child.stdin!.write(`${caseName}\n`);
      return (await next()) as unknown as Timing;
    },
    close: () => closeChild(child),
  };
}

function closeChild(child: ChildProcess): void {
  if (child.connected) child.disconnect();
  child.stdin?.end();
}

function distinct(values: number[]): number[] {
  return [...new Set(values)];
}

/**
 * Times of two sides (or cases) measured in the same rounds -> the median of the per-round ratios a / b with
 * their min and max, to 3 decimals.
 */
export function roundRatios(
  a: readonly number[],
  b: readonly number[],
): { ratio: number; ratioMin: number; ratioMax: number } {
  if (a.length === 0 || a.length !== b.length)
    throw new Error(`roundRatios: expected two equally long non-empty lists of times, got ${a.length} and ${b.length}`);
  const ratios = a.map((t, i) => t / b[i]);
  return {
    ratio: round3(median(ratios)),
    ratioMin: round3(Math.min(...ratios)),
    ratioMax: round3(Math.max(...ratios)),
  };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const round2 = (x: number) => Math.round(x * 100) / 100;
const round3 = (x: number) => Math.round(x * 1000) / 1000;
