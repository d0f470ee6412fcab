import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { UsageError, runCli } from '../src/node';

const dir = mkdtempSync(join(tmpdir(), 'deformjs-cli-'));
const packageJson = join(dir, 'package.json');
writeFileSync(packageJson, JSON.stringify({ version: '1.2.3' }));
const spec = {
  name: 'tool',
  usage: 'usage: tool [--epochs N] [--lr X] [--mode a|b]',
  packageJson,
  options: { epochs: { type: 'string', default: '3' }, lr: { type: 'string' }, mode: { type: 'string' } },
} as const;

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((text: string) => void out.push(text));
  vi.spyOn(console, 'error').mockImplementation((text: string) => void err.push(text));
  return { out, err };
}

describe('runCli', () => {
  afterEach(() => vi.restoreAllMocks());

  it('prints the usage for -h and --help and the version for --version, exit 0, without running main', async () => {
    const { out } = capture();
    const main = vi.fn(async () => undefined);
    expect(await runCli(spec, ['-h'], main)).toBe(0);
    expect(await runCli(spec, ['--help'], main)).toBe(0);
    expect(await runCli(spec, ['--version'], main)).toBe(0);
    expect(main).not.toHaveBeenCalled();
    expect(out).toEqual([spec.usage, spec.usage, 'tool 1.2.3']);
  });

  it('reads typed flags with defaults', async () => {
    capture();
    let seen: unknown[] = [];
    const code = await runCli(spec, ['--lr', '1e-3', '--mode', 'b'], async ({ flags }) => {
      seen = [flags.int('epochs', 1), flags.number('lr'), flags.oneOf('mode', ['a', 'b']), flags.optionalInt('seed')];
    });
    expect(code).toBe(0);
    expect(seen).toEqual([3, 1e-3, 'b', undefined]);
  });

  it.each([
    [['--epochs', 'abc'], '--epochs expects an integer >= 1, got "abc"'],
    [['--epochs', '2.5'], '--epochs expects an integer >= 1, got "2.5"'],
    [['--epochs', '0'], '--epochs expects an integer >= 1, got "0"'],
    [['--epochs', ''], '--epochs expects an integer >= 1, got ""'],
    [['--lr', 'NaN'], '--lr expects a number >= 0, got "NaN"'],
    [['--mode', 'c'], '--mode expects one of a, b, got "c"'],
    [['--bogus'], "Unknown option '--bogus'"],
    [['--lr'], "Option '--lr <value>' argument missing"],
  ])('%j is a usage error (exit 2) naming the flag, before main does any work', async (argv, message) => {
    const { err } = capture();
    let work = false;
    const code = await runCli(spec, argv, async ({ flags }) => {
      flags.int('epochs', 1);
      if (argv[0] === '--lr') flags.number('lr');
      if (argv[0] === '--mode') flags.oneOf('mode', ['a', 'b']);
      work = true;
    });
    expect(code).toBe(2);
    expect(work).toBe(false);
    expect(err.join('\n')).toContain(message);
    expect(err.join('\n')).toContain('tool --help');
  });

  it('a runtime error exits 1 with its message, a UsageError thrown by main exits 2', async () => {
    const { err } = capture();
    expect(
      await runCli(spec, [], async () => {
        throw new Error('disk full');
      }),
    ).toBe(1);
    expect(err[0]).toBe('tool: disk full');
    expect(
      await runCli(spec, [], async () => {
        throw new UsageError('tool: --out is required');
      }),
    ).toBe(2);
  });
});
