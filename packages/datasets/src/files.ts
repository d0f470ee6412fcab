import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, sep } from 'node:path';
import { describe, isFiniteNumber, isFiniteNumbers, isRecord } from '@deformjs/validate';
import { formatError } from './errors';

/** Reads a text file, or throws naming it. */
export function readText(file: string, what = 'file'): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw formatError(
      file,
      '',
      `cannot read the ${what} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
}

/** Parses a JSON file; a truncated or malformed file throws naming it and the parser's position. */
export function readJson(file: string): unknown {
  const text = readText(file, 'JSON file');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw formatError(
      file,
      'JSON',
      `malformed or truncated JSON (${(error as Error).message}; file has ${text.length} characters)`,
    );
  }
}

/**
 * `name` (a file name read from an annotation) joined to `root`, refused when it points outside `root`
 * (`../`, an absolute path): a dataset file must not make a loader read anywhere else.
 */
export function pathInside(root: string, name: string, annotationFile: string, record: string): string {
  const path = join(root, name);
  const rel = relative(root, path);
  if (isAbsolute(name) || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel))
    throw formatError(annotationFile, record, `file name ${JSON.stringify(name)} points outside ${root}`);
  return path;
}

/** Throws, naming the annotation file and the record, when a referenced file does not exist. */
export function requireFile(path: string, annotationFile: string, record: string): void {
  if (!existsSync(path) || !statSync(path).isFile())
    throw formatError(annotationFile, record, `referenced file not found: ${path}`);
}

/** The array field `key` of a parsed JSON object, or an error naming the file. */
export function arrayField(json: unknown, key: string, file: string): unknown[] {
  if (!isRecord(json)) throw formatError(file, '', `expected a JSON object at the top level`);
  const value = json[key];
  if (!Array.isArray(value))
    throw formatError(file, '', `expected an array "${key}", got ${value === undefined ? 'nothing' : typeof value}`);
  return value;
}

/**
 * Field checks for one JSON record, all errors naming the file and the record. The checks are
 * @deformjs/validate's (`isRecord`, `isFiniteNumber`, `isFiniteNumbers`, `describe` for the value shown, which
 * keeps a huge hostile array to one short line); the errors are dataset errors, naming the file.
 */
export class RecordReader {
  constructor(
    readonly file: string,
    readonly record: string,
    readonly value: unknown,
  ) {
    if (!isRecord(value)) throw formatError(file, record, `expected an object, got ${describe(value)}`);
  }

  private get fields(): Record<string, unknown> {
    return this.value as Record<string, unknown>;
  }

  fail(problem: string): never {
    throw formatError(this.file, this.record, problem);
  }

  has(key: string): boolean {
    return this.fields[key] !== undefined;
  }

  raw(key: string): unknown {
    return this.fields[key];
  }

  number(key: string, options: { integer?: boolean; min?: number; fallback?: number } = {}): number {
    const value = this.fields[key] ?? options.fallback;
    if (!isFiniteNumber(value)) this.fail(`"${key}" must be a finite number, got ${describe(value)}`);
    if (options.integer && !Number.isInteger(value)) this.fail(`"${key}" must be an integer, got ${value}`);
    if (options.min !== undefined && value < options.min) this.fail(`"${key}" must be >= ${options.min}, got ${value}`);
    return value;
  }

  string(key: string): string {
    const value = this.fields[key];
    if (typeof value !== 'string') this.fail(`"${key}" must be a string, got ${describe(value)}`);
    return value;
  }

  /** A string or a number (COCO and VQA ids are numbers; other datasets use strings). */
  id(key: string): number | string {
    const value = this.fields[key];
    if (typeof value === 'string' || isFiniteNumber(value)) return value;
    return this.fail(`"${key}" must be a number or a string, got ${describe(value)}`);
  }

  numbers(key: string, length: number): number[] {
    const value = this.fields[key];
    if (!isFiniteNumbers(value, length)) this.fail(`"${key}" must be ${length} finite numbers, got ${describe(value)}`);
    return value;
  }
}
