import { readdirSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync, accessSync, constants } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { isAtomicTemp } from '@deformjs/core/node';
import { readCheckpointInfo } from './checkpoint';

/**
 * A training run's output folder, the one place a trainer writes: a pid lock so two trainers never share it,
 * orphaned temporaries of killed runs removed on open, and `fresh` discarding only what the trainer wrote.
 * Checkpoints go through `saveCheckpoint` (one atomic file that also holds the training record, so every file
 * a resume needs is consistent after a kill at any point).
 */
export interface RunFolderOptions {
  /** Who is writing, for messages ("detect train"). */
  program: string;
  /** Whether an entry of the folder is one this program writes (checkpoint, records, plots, drawings). */
  owns(name: string): boolean;
  /** Delete this program's files first (refused when the folder holds anything else). */
  fresh?: boolean;
}

const LOCK = '.lock';

export class RunFolder {
  private released = false;

  private constructor(
    readonly dir: string,
    private readonly lockPath: string,
  ) {
    process.on('exit', this.onExit);
  }

  /**
   * Opens (creating it) and locks `dir`. Fails before any training starts when `dir` is a file, is not
   * writable, holds files this program did not write (with `fresh`), or is locked by a live process.
   */
  static open(dir: string, options: RunFolderOptions): RunFolder {
    const { program, owns, fresh = false } = options;
    if (statSync(dir, { throwIfNoEntry: false })?.isDirectory() === false)
      throw new Error(`${program}: --out ${dir} is a file, not a folder`);
    mkdirSync(dir, { recursive: true });
    try {
      accessSync(dir, constants.W_OK);
    } catch {
      throw new Error(`${program}: --out ${dir} is not writable`);
    }
    const lockPath = join(dir, LOCK);
    takeLock(lockPath, program, dir);
    const folder = new RunFolder(dir, lockPath);
    try {
      const entries = readdirSync(dir).filter((name) => name !== LOCK);
      for (const name of entries.filter(isAtomicTemp)) rmSync(join(dir, name), { force: true });
      if (fresh) {
        const foreign = entries.filter((name) => !isAtomicTemp(name) && !owns(name));
        if (foreign.length > 0)
          throw new Error(
            `${program}: --fresh would discard the run in ${dir}, but it also holds files this program did not write (${foreign
              .slice(0, 5)
              .join(', ')}${foreign.length > 5 ? ', ...' : ''}); choose another --out`,
          );
        for (const name of entries.filter(owns)) rmSync(join(dir, name), { recursive: true, force: true });
      }
    } catch (error) {
      folder.release();
      throw error;
    }
    return folder;
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  /** Removes the lock (also done by the process exit handler; a killed run's lock is detected as stale). */
  release(): void {
    if (this.released) return;
    this.released = true;
    rmSync(this.lockPath, { force: true });
    process.off('exit', this.onExit);
  }

  private readonly onExit = () => this.release();
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Creates the lock file exclusively with our pid. An existing lock whose process is gone (a killed run, on
 * this host) is stale and replaced; a live one is refused with its pid.
 */
function takeLock(lockPath: string, program: string, dir: string): void {
  const mine = JSON.stringify({ pid: process.pid, host: hostname() });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lockPath, mine, { flag: 'wx' });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let holder: { pid?: unknown; host?: unknown } = {};
    try {
      holder = JSON.parse(readFileSync(lockPath, 'utf8')) as typeof holder;
    } catch {
      // An unreadable or half-written lock is a killed run's: stale.
    }
    const pid = typeof holder.pid === 'number' ? holder.pid : NaN;
    const sameHost = holder.host === undefined || holder.host === hostname();
    if (Number.isInteger(pid) && (processAlive(pid) || !sameHost))
      throw new Error(
        `${program}: ${dir} is in use by another trainer (pid ${pid}${sameHost ? '' : ` on ${String(holder.host)}`}); wait for it or choose another --out`,
      );
    rmSync(lockPath, { force: true });
  }
  throw new Error(`${program}: could not lock ${dir} (another trainer is starting there)`);
}

/**
 * The checkpoint a run resumes from, with the training record it holds, or undefined when `checkpointPath` does
 * not exist yet. A checkpoint without a record, or whose record's fingerprint differs from `fingerprint`
 * (another model, data or seed), is refused with the differences listed: resuming it would silently mix runs.
 */
export function readResumableCheckpoint<R extends { fingerprint: unknown }>(
  checkpointPath: string,
  fingerprint: unknown,
): { bytes: Uint8Array; record: R } | undefined {
  if (statSync(checkpointPath, { throwIfNoEntry: false }) === undefined) return undefined;
  const bytes = new Uint8Array(readFileSync(checkpointPath));
  const record = readCheckpointInfo(bytes, checkpointPath).record as R | null;
  const differences = record ? fingerprintDifferences(record.fingerprint, fingerprint) : ['no training record'];
  if (differences.length > 0)
    throw new Error(
      `${checkpointPath} was trained on something else:\n  ${differences.join('\n  ')}\npass --fresh to start over, or another --out`,
    );
  return { bytes, record: record! };
}

/**
 * What differs between two fingerprints (nested plain JSON: dataset and model descriptions), as
 * "path: saved -> current" lines; empty when they match.
 */
export function fingerprintDifferences(saved: unknown, current: unknown, path = ''): string[] {
  const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object';
  if (isObject(saved) && isObject(current) && Array.isArray(saved) === Array.isArray(current)) {
    if (Array.isArray(saved) && JSON.stringify(saved) !== JSON.stringify(current))
      return [`${path || '(root)'}: ${short(saved)} in the checkpoint, ${short(current)} now`];
    const keys = [...new Set([...Object.keys(saved), ...Object.keys(current)])];
    return keys.flatMap((k) => fingerprintDifferences(saved[k], current[k], path ? `${path}.${k}` : k));
  }
  return JSON.stringify(saved) === JSON.stringify(current)
    ? []
    : [`${path || '(root)'}: ${short(saved)} in the checkpoint, ${short(current)} now`];
}

function short(value: unknown): string {
  const text = JSON.stringify(value) ?? 'nothing';
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
