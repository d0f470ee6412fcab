import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A mistake in the command line: the CLI prints it with a pointer to `--help` and exits with code 2. */
export class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;

export interface CliSpec<O extends Options> {
  /** The command's name, prefixed to every message. */
  name: string;
  /** `-h` / `--help` text. */
  usage: string;
  /** The package.json whose version `--version` prints (a file URL or path). */
  packageJson: URL | string;
  /** Flags as node:util parseArgs takes them; `help` and `version` are added. */
  options: O;
}

/** Typed readers of string flags: each rejects a bad value with a UsageError naming the flag. */
export interface Flags {
  int(name: string, min?: number, max?: number): number;
  /** Like `int`, but `undefined` when the flag was not given and has no default. */
  optionalInt(name: string, min?: number, max?: number): number | undefined;
  number(name: string, min?: number, max?: number): number;
  oneOf<T extends string>(name: string, allowed: readonly T[]): T;
}

export interface ParsedCli<O extends Options> {
  values: ReturnType<typeof parseArgs<{ options: O; allowPositionals: true }>>['values'];
  positionals: string[];
  flags: Flags;
}

function flagReaders(name: string, values: Record<string, unknown>): Flags {
  const raw = (flag: string) => values[flag];
  const numeric = (flag: string, integer: boolean, min: number, max: number): number => {
    const text = raw(flag);
    const value = typeof text === 'string' && text.trim() !== '' ? Number(text) : NaN;
    const ok = integer ? Number.isSafeInteger(value) : Number.isFinite(value);
    if (!ok || value < min || value > max) {
      const kind = integer ? 'an integer' : 'a number';
      const range = max === Infinity ? `>= ${min}` : `in [${min}, ${max}]`;
      throw new UsageError(`${name}: --${flag} expects ${kind} ${range}, got ${JSON.stringify(text)}`);
    }
    return value;
  };
  return {
    int: (flag, min = 0, max = Infinity) => numeric(flag, true, min, max),
    optionalInt: (flag, min = 0, max = Infinity) =>
      raw(flag) === undefined ? undefined : numeric(flag, true, min, max),
    number: (flag, min = 0, max = Infinity) => numeric(flag, false, min, max),
    oneOf: (flag, allowed) => {
      const value = raw(flag);
      if (!allowed.includes(value as never))
        throw new UsageError(`${name}: --${flag} expects one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
      return value as (typeof allowed)[number];
    },
  };
}

/** Parses `argv` strictly (unknown flags and missing values are UsageErrors). */
export function parseCli<O extends Options>(spec: CliSpec<O>, argv: string[]): ParsedCli<O> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        ...spec.options,
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
      },
    });
  } catch (error) {
    throw new UsageError(`${spec.name}: ${(error as Error).message}`);
  }
  const values = parsed.values as Record<string, unknown>;
  return {
    values: parsed.values as ParsedCli<O>['values'],
    positionals: parsed.positionals,
    flags: flagReaders(spec.name, values),
  };
}

/**
 * Runs a command-line program with the exit codes every deformjs CLI shares: 0 done, 1 runtime error,
 * 2 usage error. `-h`/`--help` prints the usage and `--version` the package version (both exit 0) before
 * `main` sees the arguments. `main` should read and check every flag before it starts any work.
 * Returns the exit code (the caller sets `process.exitCode`, so tests can run it in-process).
 */
export async function runCli<O extends Options>(
  spec: CliSpec<O>,
  argv: string[],
  main: (cli: ParsedCli<O>) => Promise<void>,
): Promise<number> {
  try {
    const cli = parseCli(spec, argv);
    const values = cli.values as Record<string, unknown>;
    if (values.help) {
      console.log(spec.usage);
      return 0;
    }
    if (values.version) {
      const pkg = JSON.parse(readFileSync(spec.packageJson, 'utf8')) as { version: string };
      console.log(`${spec.name} ${pkg.version}`);
      return 0;
    }
    await main(cli);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`${error.message}\n(${spec.name} --help shows the usage)`);
      return 2;
    }
    console.error(`${spec.name}: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}
