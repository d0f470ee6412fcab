// Every README's code blocks, as a reader meets them: runnable blocks run as written (TypeScript types stripped)
// against the built packages, every ts block type-checks, and a package README imports only what its install
// line installs. The release test runs the same runnable blocks in an empty folder after a real install.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { readmeBlocks, readmeProblems, runnableFile } from './readme-blocks.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
// Every workspace package (a folder with a package.json); a leftover folder of build output is not one.
const workspaceReadmes = (dir: string) =>
  readdirSync(join(root, dir))
    .filter((name) => existsSync(join(root, dir, name, 'package.json')))
    .map((name) => `${dir}/${name}/README.md`);
const readmes = [...workspaceReadmes('packages'), ...workspaceReadmes('apps'), 'README.md'];
// Blocks live under the repository so `@deformjs/*` resolves to the workspace packages (root devDependencies).
const runDir = join(root, '.readme-run');
rmSync(runDir, { recursive: true, force: true });
mkdirSync(runDir);
afterAll(() => rmSync(runDir, { recursive: true, force: true }));

const blockId = (readme: string, line: number) =>
  `${readme.replace(/\/README\.md$|\.md$/, '').replace(/\//g, '-')}-${line}`;

describe.each(readmes)('%s', (readme) => {
  const markdown = readFileSync(join(root, readme), 'utf8');
  const blocks = readmeBlocks(markdown);

  test('blocks are tagged and import only what the install line installs', () => {
    expect(readmeProblems(markdown, { requireInstall: readme.startsWith('packages/') })).toEqual([]);
  });

  for (const block of blocks.filter((b) => b.tags.has('runnable'))) {
    test(`runs the block at line ${block.line}`, async () => {
      const { file, code } = await runnableFile(block, blockId(readme, block.line));
      writeFileSync(join(runDir, file), code);
      const cwd = mkdtempSync(join(tmpdir(), 'readme-'));
      try {
        const run = spawnSync(process.execPath, [join(runDir, file)], { cwd, encoding: 'utf8', timeout: 180_000 });
        if (run.status !== 0) {
          throw new Error(
            `${readme}:${block.line} exited with ${run.status ?? run.signal}\n${run.stdout}\n${run.stderr}`,
          );
        }
      } finally {
        rmSync(cwd, { recursive: true, force: true });
      }
    });
  }
});

test('every ts block type-checks against the built packages', () => {
  const dir = join(runDir, 'typecheck');
  mkdirSync(dir, { recursive: true });
  for (const readme of readmes) {
    for (const block of readmeBlocks(readFileSync(join(root, readme), 'utf8'))) {
      if (block.lang !== 'ts' || !(block.tags.has('runnable') || block.tags.has('fragment'))) continue;
      const ext = block.tags.has('cjs') ? 'cts' : 'ts';
      writeFileSync(join(dir, `${blockId(readme, block.line)}.${ext}`), `${block.code}export {};\n`);
    }
  }
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      extends: '../../tsconfig.base.json',
      compilerOptions: { noEmit: true, noUnusedLocals: false },
      include: ['*.ts', '*.cts'],
    }),
  );
  const tsc = join(root, 'node_modules/typescript/bin/tsc');
  try {
    execFileSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' });
  } catch (error) {
    throw new Error(`README blocks do not type-check:\n${(error as { stdout: string }).stdout}`, { cause: error });
  }
});
