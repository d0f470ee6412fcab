/* global process, console, fetch, URL, setTimeout, clearTimeout */
// The release as a user meets it. Starts a local registry (verdaccio on 127.0.0.1, no uplink for @deformjs),
// publishes every package with the project's own release command from a scratch copy of the repository, then
// for each package, in an empty folder, installs it alone with npm and with pnpm (the README's install line,
// verbatim) and runs the README's runnable blocks there. Checks: no `workspace:` range and one tfjs-core in
// the install, no Node built-in in browser entry points, CommonJS entries load, publint --strict and
// @arethetypeswrong/cli on every packed package, and two versions of @deformjs/sampling side by side (msda
// 0.1.0 with dcn 0.1.1) refused with an error naming both. Prints install size and package count per package.
//
//   node scripts/release-test.mjs [--keep] [--only msda,dcn]
import { spawn } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installedPackages, readmeBlocks, runnableFile } from './readme-blocks.mjs';

const repo = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const keep = args.includes('--keep');
const only = args.includes('--only') ? args[args.indexOf('--only') + 1].split(',') : null;
const work = mkdtempSync(join(tmpdir(), 'deformjs-release-'));
const bin = (name) => join(repo, 'node_modules/.bin', name);
const results = [];
let registryProcess = null;

function log(message) {
  process.stdout.write(`[release] ${message}\n`);
}

/** Runs a command; resolves with its output, rejects with the command, exit status and the output's tail. */
function run(command, commandArgs, { cwd, env = {}, timeout = 300_000, input } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, commandArgs, {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.stdin.end(input ?? '');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else {
        const why = signal === 'SIGKILL' ? `timed out after ${timeout / 1000} s` : `exited with ${code ?? signal}`;
        reject(new Error(`${command} ${commandArgs.join(' ')} (in ${cwd}) ${why}:\n${output.slice(-4000)}`));
      }
    });
  });
}

async function check(name, fn) {
  try {
    const detail = await fn();
    results.push({ name, ok: true });
    log(`ok   ${name}${detail ? `: ${detail}` : ''}`);
  } catch (error) {
    results.push({ name, ok: false });
    log(`FAIL ${name}\n${String(error?.message ?? error).replace(/^/gm, '       ')}`);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function startRegistry() {
  const port = await freePort();
  // The uplink is the registry npm is configured with on this machine.
  const uplink = (await run('npm', ['config', 'get', 'registry'], { cwd: repo })).trim();
  const dir = join(work, 'registry');
  mkdirSync(dir);
  // @deformjs comes only from this registry (no proxy); everything else through the npm registry.
  writeFileSync(
    join(dir, 'config.yaml'),
    [
      `storage: ${join(dir, 'storage')}`,
      'auth:',
      '  htpasswd:',
      `    file: ${join(dir, 'htpasswd')}`,
      '    max_users: 100',
      'uplinks:',
      '  upstream:',
      `    url: ${uplink}`,
      '    timeout: 60s',
      'packages:',
      "  '@deformjs/*':",
      '    access: $all',
      '    publish: $authenticated',
      "  '**':",
      '    access: $all',
      '    publish: $authenticated',
      '    proxy: upstream',
      'log: { type: stdout, format: pretty, level: error }',
      '',
    ].join('\n'),
  );
  registryProcess = spawn(bin('verdaccio'), ['--config', join(dir, 'config.yaml'), '--listen', `127.0.0.1:${port}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  registryProcess.stdout.on('data', (d) => (output += d));
  registryProcess.stderr.on('data', (d) => (output += d));
  const url = `http://127.0.0.1:${port}/`;
  for (let waited = 0; ; waited += 250) {
    if (registryProcess.exitCode !== null) throw new Error(`verdaccio exited:\n${output}`);
    try {
      if ((await fetch(`${url}-/ping`)).ok) break;
    } catch {
      // not listening yet
    }
    if (waited > 60_000) throw new Error(`verdaccio did not answer on ${url} within 60 s:\n${output}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  // A user to publish as; its token goes into the scratch copy's .npmrc.
  const response = await fetch(`${url}-/user/org.couchdb.user:release-test`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'release-test', password: 'release-test-password' }),
  });
  const { token } = await response.json();
  if (!token) throw new Error(`verdaccio refused the test user (${response.status})`);
  return { url, port, token };
}

function stopRegistry() {
  if (registryProcess && registryProcess.exitCode === null) registryProcess.kill('SIGTERM');
}

/** The repository's files (tracked and untracked, not ignored) copied into an empty folder. */
async function scratchCopy() {
  const dest = join(work, 'repo');
  const files = (await run('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: repo }))
    .split('\0')
    .filter((f) => f && existsSync(join(repo, f)));
  for (const file of files) {
    mkdirSync(dirname(join(dest, file)), { recursive: true });
    cpSync(join(repo, file), join(dest, file));
  }
  // changeset publish tags the release in git.
  const git = ['-c', 'user.name=release-test', '-c', 'user.email=release-test@localhost'];
  await run('git', ['init', '-q'], { cwd: dest });
  await run('git', ['add', '-A'], { cwd: dest });
  await run('git', [...git, 'commit', '-qm', 'scratch copy'], { cwd: dest });
  return dest;
}

const workspacePackages = (root) =>
  readdirSync(join(root, 'packages'))
    .map((dir) => ({
      dir: join(root, 'packages', dir),
      json: JSON.parse(readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8')),
    }))
    .filter((p) => !p.json.private);

async function publishAll(scratch, registry) {
  const env = { npm_config_registry: registry.url, CI: '1' };
  await run('pnpm', ['install', '--frozen-lockfile', '--prefer-offline'], { cwd: scratch, env, timeout: 300_000 });
  await run('pnpm', ['changeset', 'version'], { cwd: scratch, env });
  return run('pnpm', ['release'], { cwd: scratch, env, timeout: 1_500_000 });
}

function packageCount(nodeModules) {
  // Every folder holding a package.json under node_modules (scoped ones included), pnpm's store layout too.
  let count = 0;
  const visit = (dir, depth) => {
    if (depth > 12 || !existsSync(dir)) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.name === '.bin') continue;
      const path = join(dir, entry.name);
      if (entry.name.startsWith('@') || entry.name === '.pnpm') visit(path, depth + 1);
      else if (existsSync(join(path, 'package.json'))) {
        count++;
        visit(join(path, 'node_modules'), depth + 1);
      } else if (entry.name === 'node_modules') visit(path, depth + 1);
    }
  };
  visit(nodeModules, 0);
  return count;
}

function diskUsage(path) {
  let bytes = 0;
  const visit = (p) => {
    const stat = statSync(p, { throwIfNoEntry: false });
    if (!stat || stat.isSymbolicLink()) return;
    if (stat.isDirectory()) for (const entry of readdirSync(p)) visit(join(p, entry));
    else bytes += stat.size;
  };
  visit(path);
  return bytes;
}

/** Every installed copy of a package: package.json paths under node_modules, npm's nesting and pnpm's store. */
function copiesOf(nodeModules, name) {
  const found = new Set();
  const visit = (dir, depth) => {
    if (depth > 12 || !existsSync(dir)) return;
    const candidate = join(dir, name, 'package.json');
    if (existsSync(candidate)) found.add(JSON.parse(readFileSync(candidate, 'utf8')).version + ' ' + candidate);
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const path = join(dir, entry.name);
      if (entry.name === '.pnpm')
        for (const inner of readdirSync(path)) visit(join(path, inner, 'node_modules'), depth + 1);
      else if (entry.name.startsWith('@'))
        for (const inner of readdirSync(path)) visit(join(path, inner, 'node_modules'), depth + 1);
      else visit(join(path, 'node_modules'), depth + 1);
    }
  };
  visit(nodeModules, 0);
  return [...found];
}

/** Node built-ins reached from a package's browser entry point ("." import condition), bundled for the browser. */
async function builtinsInBrowserEntry(folder, name) {
  const { build } = await import(esbuildPath);
  const result = await build({
    stdin: { contents: `export * from '${name}';`, resolveDir: folder },
    bundle: true,
    platform: 'browser',
    write: false,
    metafile: true,
    logLevel: 'silent',
    external: ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-*'],
  }).catch((error) => ({ errors: error.errors }));
  if (result.errors?.length) return result.errors.map((e) => e.text);
  return Object.keys(result.metafile.inputs).filter((input) =>
    /^(node:|fs$|path$|os$|url$|worker_threads$)/.test(input),
  );
}

let esbuildPath = '';
// Packages for Node alone (file loaders, image decoding with sharp, worker threads): no browser entry to check.
const NODE_ONLY = new Set(['@deformjs/datasets']);

async function userInstall(manager, pkg, registry, readme) {
  const folder = join(work, 'users', `${pkg.json.name.replace('@deformjs/', '')}-${manager}`);
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, 'package.json'), JSON.stringify({ name: 'user', version: '1.0.0', private: true }));
  const blocks = readmeBlocks(readme);
  const installBlock = blocks.find((b) => b.tags.has('install'));
  const packages = installBlock && installedPackages(installBlock);
  if (!packages) throw new Error(`${pkg.json.name}: README has no \`\`\`sh install line`);
  const env = {
    npm_config_registry: registry.url,
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
  };
  const started = Date.now();
  if (manager === 'npm') await run('npm', ['install', ...packages], { cwd: folder, env, timeout: 240_000 });
  else
    await run('pnpm', ['add', ...packages], {
      cwd: folder,
      env: { ...env, npm_config_store_dir: pnpmStore },
      timeout: 240_000,
    });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const nodeModules = join(folder, 'node_modules');
  const size = diskUsage(nodeModules);
  const count = packageCount(nodeModules);

  for (const copy of copiesOf(nodeModules, '@deformjs/core').concat(
    ...workspaceNames.map((n) => copiesOf(nodeModules, n)),
  )) {
    const file = copy.slice(copy.indexOf(' ') + 1);
    if (readFileSync(file, 'utf8').includes('workspace:')) throw new Error(`a workspace: range in ${file}`);
  }
  const tfjs = copiesOf(nodeModules, '@tensorflow/tfjs-core');
  if (tfjs.length > 1) throw new Error(`more than one @tensorflow/tfjs-core:\n${tfjs.join('\n')}`);
  const builtins = NODE_ONLY.has(pkg.json.name) ? [] : await builtinsInBrowserEntry(folder, pkg.json.name);
  if (builtins.length)
    throw new Error(`${pkg.json.name}'s browser entry reaches Node built-ins: ${builtins.join(', ')}`);
  for (const name of packages.filter((p) => p.startsWith('@deformjs/'))) {
    await run(
      'node',
      ['-e', `const m = require('${name}'); if (!Object.keys(m).length) throw new Error('empty CommonJS exports');`],
      {
        cwd: folder,
      },
    );
  }
  let ran = 0;
  for (const block of blocks.filter((b) => b.tags.has('runnable'))) {
    const { file, code } = await runnableFile(block, `readme-${block.line}`);
    writeFileSync(join(folder, file), code);
    await run('node', [file], { cwd: folder, timeout: 240_000 }).catch((error) => {
      throw new Error(`README block at line ${block.line}: ${error.message}`);
    });
    ran++;
  }
  installs.push({ name: pkg.json.name, manager, size, count, seconds });
  return `${packages.join(' ')}: ${(size / 1e6).toFixed(1)} MB, ${count} packages, ${seconds} s; ${ran} README blocks ran`;
}

let pnpmStore = '';
let workspaceNames = [];
const installs = [];

/** A pool of `width` workers over the jobs, in order. */
async function pool(jobs, width) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < jobs.length) await jobs[next++]();
    }),
  );
}

async function twoVersions(scratch, registry) {
  // sampling gets a new minor; changesets patches its dependents (msda, dcn, ...) to depend on ^0.2.0.
  writeFileSync(
    join(scratch, '.changeset/release-test-sampling.md'),
    '---\n"@deformjs/sampling": minor\n---\n\nA second version.\n',
  );
  const env = { npm_config_registry: registry.url, CI: '1' };
  await run('pnpm', ['changeset', 'version'], { cwd: scratch, env });
  await run('pnpm', ['release'], { cwd: scratch, env, timeout: 1_500_000 });
  const dcn = JSON.parse(readFileSync(join(scratch, 'packages/dcn/package.json'), 'utf8'));
  const msda = '0.1.0';
  const folder = join(work, 'users', 'two-versions');
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, 'package.json'), JSON.stringify({ name: 'user', version: '1.0.0', private: true }));
  await run(
    'npm',
    ['install', `@deformjs/msda@${msda}`, `@deformjs/dcn@${dcn.version}`, '@deformjs/core', '@tensorflow/tfjs-core'],
    {
      cwd: folder,
      env: { npm_config_registry: registry.url, npm_config_audit: 'false', npm_config_fund: 'false' },
      timeout: 240_000,
    },
  );
  const samplings = copiesOf(join(folder, 'node_modules'), '@deformjs/sampling')
    .map((c) => c.split(' ')[0])
    .sort();
  if (samplings.length !== 2)
    throw new Error(`expected two versions of @deformjs/sampling, found ${samplings.join(', ')}`);
  writeFileSync(
    join(folder, 'both.mjs'),
    `import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@deformjs/core';
import { msDeformAttn } from '@deformjs/msda';
import { deformConv2d } from '@deformjs/dcn';
await initBackend('cpu');
msDeformAttn(tf.ones([1, 4, 1, 2]), [[2, 2]], [0], tf.fill([1, 1, 1, 1, 1, 2], 0.5), tf.ones([1, 1, 1, 1, 1]));
try {
  deformConv2d(tf.ones([1, 3, 3, 1]), tf.zeros([1, 1, 1, 18]), tf.ones([3, 3, 1, 1]));
  console.log('NO ERROR');
} catch (error) {
  console.log(error.message);
}
`,
  );
  const output = await run('node', ['both.mjs'], { cwd: folder, timeout: 120_000 });
  for (const version of samplings) {
    if (!output.includes(`@deformjs/sampling@${version}`)) {
      throw new Error(`the error does not name @deformjs/sampling@${version}:\n${output}`);
    }
  }
  return `sampling ${samplings.join(' and ')} side by side: ${output.trim().split('\n').pop().slice(0, 200)}`;
}

async function main() {
  const started = Date.now();
  log(`working in ${work}`);
  esbuildPath = createRequire(import.meta.resolve('tsup')).resolve('esbuild');
  pnpmStore = (await run('pnpm', ['store', 'path'], { cwd: repo })).trim();
  const registry = await startRegistry();
  log(`registry ${registry.url}`);
  const scratch = await scratchCopy();
  writeFileSync(join(scratch, '.npmrc'), `//127.0.0.1:${registry.port}/:_authToken=${registry.token}\n`);

  let published = false;
  await check('publish every package with `pnpm release` (changeset version, build, changeset publish)', async () => {
    const output = await publishAll(scratch, registry);
    published = true;
    const count = (output.match(/New tag:/g) ?? []).length;
    return `${count} packages tagged`;
  });
  if (!published) return finish(started);
  const packages = workspacePackages(scratch).filter(
    (p) => !only || only.includes(p.json.name.replace('@deformjs/', '')),
  );
  workspaceNames = packages.map((p) => p.json.name);

  await check('changesets gave no version or CHANGELOG to private apps', async () => {
    for (const app of readdirSync(join(scratch, 'apps'))) {
      const json = JSON.parse(readFileSync(join(scratch, 'apps', app, 'package.json'), 'utf8'));
      if (json.version !== '0.0.0') throw new Error(`${json.name} was versioned ${json.version}`);
      if (existsSync(join(scratch, 'apps', app, 'CHANGELOG.md'))) throw new Error(`${json.name} got a CHANGELOG.md`);
    }
  });

  const tarballs = join(work, 'tarballs');
  mkdirSync(tarballs);
  const lintJobs = packages.map((pkg) => async () => {
    await check(`${pkg.json.name}: publint --strict and attw on the packed package`, async () => {
      const out = await run('pnpm', ['pack', '--pack-destination', tarballs], { cwd: pkg.dir });
      const tgz = out.trim().split('\n').pop().trim();
      const listing = await run('tar', ['-tzf', tgz], { cwd: tarballs });
      for (const file of ['package/LICENSE', 'package/README.md', 'package/CHANGELOG.md']) {
        if (!listing.split('\n').includes(file)) throw new Error(`${file} is not in ${tgz}`);
      }
      await run(bin('publint'), ['run', '--strict', tgz], { cwd: tarballs });
      await run(bin('attw'), [tgz, '--format', 'ascii', '--profile', 'node16'], { cwd: tarballs });
    });
  });
  await pool(lintJobs, 2);

  const installJobs = packages.flatMap((pkg) =>
    ['npm', 'pnpm'].map((manager) => async () => {
      const readme = readFileSync(join(pkg.dir, 'README.md'), 'utf8');
      await check(`${pkg.json.name}: installed alone with ${manager}, README example run`, () =>
        userInstall(manager, pkg, registry, readme),
      );
    }),
  );
  await pool(installJobs, 3);

  if (!only || (only.includes('msda') && only.includes('dcn'))) {
    await check('two versions of @deformjs/sampling in one process are refused with both versions named', () =>
      twoVersions(scratch, registry),
    );
  }

  log('install size and package count (npm | pnpm):');
  for (const name of workspaceNames) {
    const row = ['npm', 'pnpm'].map((m) => installs.find((i) => i.name === name && i.manager === m));
    const cell = (i) => (i ? `${(i.size / 1e6).toFixed(1)} MB, ${i.count} packages` : 'failed');
    log(`  ${name.padEnd(28)} ${cell(row[0]).padEnd(26)} | ${cell(row[1])}`);
  }
  finish(started);
}

function finish(started) {
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  log(`${((Date.now() - started) / 1000).toFixed(0)} s`);
  stopRegistry();
  if (!keep) rmSync(work, { recursive: true, force: true });
  else log(`kept ${work}`);
  console.log(`release: ${passed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    stopRegistry();
    if (!keep) rmSync(work, { recursive: true, force: true });
    process.exit(130);
  });
}

main().catch((error) => {
  log(`FAIL ${error.stack ?? error}`);
  results.push({ name: 'setup', ok: false });
  finish(Date.now());
});
