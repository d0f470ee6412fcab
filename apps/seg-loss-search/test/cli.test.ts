import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The CLI from its sources through tsx; the packages resolve to their built dist (turbo builds them first).
const appDir = fileURLToPath(new URL('..', import.meta.url));
const tsx = fileURLToPath(new URL('../../../node_modules/.bin/tsx', import.meta.url));
const cli = (...args: string[]) => spawnSync(tsx, ['src/cli.ts', ...args], { cwd: appDir, encoding: 'utf8' });

describe('seg-loss-search CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'seg-loss-search-cli-'));

  it('--version exits 0; a bad numeric flag is a usage error (2) before any work', () => {
    const version = cli('--version');
    expect(version.status).toBe(0);
    expect(version.stdout).toBe('seg-loss-search 0.0.0\n');
    const bad = cli('compare', '--steps', 'abc', '--out', join(dir, 'out'), '--cache', join(dir, 'data'));
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('seg-loss-search: --steps expects an integer >= 1, got "abc"');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('--fresh refuses an --out holding files it did not write, and deletes nothing', () => {
    const out = join(dir, 'project');
    mkdirSync(out);
    writeFileSync(join(out, 'notes.md'), 'mine');
    writeFileSync(join(out, 'comparison.md'), 'an old table');
    const run = cli('compare', '--fresh', '--out', out, '--cache', join(dir, 'data'), '--backend', 'cpu');
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('also holds files this program did not write (notes.md)');
    expect(readdirSync(out).sort()).toEqual(['comparison.md', 'notes.md']);
  });
});
