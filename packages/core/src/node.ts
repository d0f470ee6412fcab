import * as tf from '@tensorflow/tfjs-core';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync, rmSync } from 'node:fs';
import { dirname, join, basename } from 'node:path';

/**
 * Writes a file so that a crash never leaves it half-written: the data goes to a temporary file in the same
 * folder (named so `isAtomicTemp` recognises it), which is then renamed over the target.
 * `afterTempWrite` runs between the two (fault-injection tests kill the process there).
 */
export function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: { afterTempWrite?: () => void } = {},
): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  try {
    writeFileSync(tmp, data);
    options.afterTempWrite?.();
    renameSync(tmp, path);
  } catch (error) {
    rmSync(tmp, { force: true });
    throw error;
  }
}

/**
 * Replaces the text between the lines `begin` and `end` of a file (a README section that a script writes from run
 * outputs) with `body`, one blank line on each side, atomically; the markers and everything around them stay.
 * Throws naming the file and both markers when either is missing or `end` does not follow `begin`.
 */
export function writeMarkedSection(path: string, begin: string, end: string, body: string): void {
  const text = readFileSync(path, 'utf8');
  const start = text.indexOf(begin);
  const stop = start < 0 ? -1 : text.indexOf(end, start + begin.length);
  if (stop < 0)
    throw new Error(
      `${path}: expected a section between the markers ${begin} and ${end}, ` +
        (start < 0 ? 'found no first marker' : 'found no second marker after the first'),
    );
  writeFileAtomic(path, `${text.slice(0, start + begin.length)}\n\n${body.trim()}\n\n${text.slice(stop)}`);
}

/** Whether a file name is one of `writeFileAtomic`'s temporaries (left behind only by a killed process). */
export function isAtomicTemp(name: string): boolean {
  return /^\..+\.\d+\.\d+\.tmp$/.test(name);
}

export interface BenchResult {
  name: string;
  /** Milliseconds. */
  median: number;
  min: number;
  max: number;
  runs: number;
  /** Median process CPU time of a run (user + system, all threads), in ms: on a shared machine, the work done rather than the wait. */
  cpuMedian: number;
}

export interface BenchOptions {
  warmup?: number;
  runs?: number;
}

/**
 * Times `fn` after warm-up runs and reports the median. `fn` must finish its work before returning (read the
 * result back or await it), or the time measures only the dispatch.
 */
export async function bench(
  name: string,
  fn: () => unknown | Promise<unknown>,
  options: BenchOptions = {},
): Promise<BenchResult> {
  const { warmup = 2, runs = 7 } = options;
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  const cpuTimes: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    const startCpu = process.cpuUsage();
    await fn();
    const cpu = process.cpuUsage(startCpu);
    times.push(performance.now() - start);
    cpuTimes.push((cpu.user + cpu.system) / 1000);
  }
  times.sort((a, b) => a - b);
  cpuTimes.sort((a, b) => a - b);
  return {
    name,
    median: times[Math.floor(times.length / 2)],
    min: times[0],
    max: times[times.length - 1],
    runs,
    cpuMedian: cpuTimes[Math.floor(runs / 2)],
  };
}

/** One row of a side-by-side table: ours against the reference, as a ratio (below 1 means we are faster). */
export interface ComparisonRow {
  case: string;
  oursMs: number;
  referenceMs: number | null;
  ratio: number | null;
  [extra: string]: unknown;
}

export function compareRow(
  caseName: string,
  ours: BenchResult,
  referenceMs: number | null,
  extra: Record<string, unknown> = {},
): ComparisonRow {
  return {
    case: caseName,
    oursMs: round(ours.median),
    referenceMs: referenceMs === null ? null : round(referenceMs),
    ratio: referenceMs ? round(ours.median / referenceMs, 3) : null,
    ...extra,
  };
}

/**
 * Prints rows as an aligned table and writes them, with machine facts and `facts` (how it was measured), to
 * `bench-results/<file>.json`.
 */
export function reportBench(file: string, rows: object[], packageDir = process.cwd(), facts: object = {}): void {
  if (rows.length === 0) return;
  const keys = Object.keys(rows[0]);
  const cells = [keys, ...rows.map((r) => keys.map((k) => format((r as Record<string, unknown>)[k])))];
  const widths = keys.map((_, i) => Math.max(...cells.map((row) => String(row[i]).length)));
  for (const row of cells) console.log(row.map((c, i) => String(c).padEnd(widths[i])).join('  '));
  const out = join(packageDir, 'bench-results', `${file}.json`);
  writeFileAtomic(
    out,
    JSON.stringify({ date: new Date().toISOString(), node: process.version, ...facts, rows }, null, 2) + '\n',
  );
  console.log(`wrote ${out}`);
}

function format(v: unknown): string {
  return typeof v === 'number' ? String(round(v, 3)) : String(v);
}

function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Debian's python3 with torch, used for side-by-side benchmarks and fixture generation (never by tests). */
export const REFERENCE_PYTHON = '/usr/bin/python3';

/** True when the PyTorch reference can run here. */
export function hasTorch(): boolean {
  if (!existsSync(REFERENCE_PYTHON)) return false;
  return spawnSync(REFERENCE_PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
}

/**
 * Runs a Python benchmark script with the reference interpreter and parses the JSON it prints last.
 * Returns null when torch is not available, so benchmarks still report our side.
 */
export function runReferenceScript(script: string, args: string[] = [], env: Record<string, string> = {}): unknown {
  if (!hasTorch()) return null;
  const result = spawnSync(REFERENCE_PYTHON, [script, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    maxBuffer: 64 << 20,
  });
  if (result.status !== 0) throw new Error(`${script} failed (${result.status}):\n${result.stderr}`);
  const lines = result.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
}

export { createProgress, lineChartSvg, markdownTable } from './report';
export type { Progress, ProgressOptions, ChartOptions, ChartSeries } from './report';

/**
 * A benchmark body from an op: runs `f`, reads every result back (so the time covers the work, not only its
 * dispatch) and frees them.
 */
export function settled(f: () => tf.Tensor | tf.Tensor[]): () => void {
  return () => {
    const all = [f()].flat();
    all.forEach((t) => t.dataSync());
    tf.dispose(all);
  };
}

/** Peak tensor memory in MB (one decimal) while `f` runs and its results are read. */
export async function peakTensorMB(f: () => tf.Tensor | tf.Tensor[]): Promise<number> {
  const info = await tf.profile(() => {
    const all = [f()].flat();
    all.forEach((t) => t.dataSync());
    return all;
  });
  tf.dispose(info.result as tf.Tensor[]);
  return Math.round((info.peakBytes / 2 ** 20) * 10) / 10;
}

export { UsageError, parseCli, runCli } from './cli';
export type { CliSpec, Flags, ParsedCli } from './cli';
