/* global process, console, fetch, URL, setTimeout, clearTimeout, Buffer */
// The release as a user meets it. Starts a local registry (verdaccio on 127.0.0.1; @deformjs has no uplink, so
// every @deformjs package installed here is one this run published; other packages come through the npm
// registry), publishes every package with the project's own release command (`pnpm release`, after
// `changeset version`) from a scratch copy of the repository, then checks, for EVERY non-private workspace
// package (found, not listed):
// - the published tarball: LICENSE, README.md and CHANGELOG.md inside; publint --strict; @arethetypeswrong/cli;
// - installed alone with npm and with pnpm in an empty folder (the README's install line): no `workspace:` range
//   in any installed @deformjs package, exactly one @tensorflow/tfjs-core (none for packages without tensors),
//   the CommonJS entry loads, the README's runnable blocks run as written; the browser entry ("." import
//   condition, bundled by esbuild for the browser) reaches no Node built-in unless the package is Node-only;
// - two versions of @deformjs/sampling side by side (msda pinned to the first, dcn on a second) are refused with
//   an error naming both.
// Prints install size and package count per package and manager; `--write-sizes FILE` writes them as markdown.
//
//   node scripts/release-test.mjs [--keep] [--only msda,dcn] [--jobs 3] [--write-sizes docs/install-sizes.md]
//
// Third-party tarballs come from the local npm cache and pnpm store when present (looked up by integrity, so they
// are byte for byte what the registry serves); @deformjs packuments are always fetched from the local registry.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { markdownTable } from '@deformjs/core/node';
import { browserBundleProblems, nodeOnlyPackages, workspacePackages } from './browser-bundle.mjs';
import { installedPackages, readmeBlocks, runnableFile } from './readme-blocks.mjs';

const repo = fileURLToPath(new URL('..', import.meta.url));
const options = parseOptions(process.argv.slice(2));
const bin = (name) => join(repo, 'node_modules/.bin', name);
const results = [];
const installs = [];
const running = new Set();
const started = Date.now();
let work = '';
let registryProcess = null;
let finished = false;

// Generous: a shared 2-core machine under load installs 60 MB of tfjs an order of magnitude slower than idle.
const INSTALL_TIMEOUT = 400_000;

function parseOptions(args) {
  const value = (flag, fallback) => (args.includes(flag) ? args[args.indexOf(flag) + 1] : fallback);
  const known = new Set(['--keep', '--only', '--jobs', '--write-sizes', '--timeout']);
  for (const arg of args) {
    if (arg.startsWith('--') && !known.has(arg)) {
      console.error(`release-test: unknown option ${arg} (known: ${[...known].join(', ')})`);
      process.exit(2);
    }
  }
  const jobs = Number(value('--jobs', '3'));
  const timeout = Number(value('--timeout', '2700'));
  if (!Number.isInteger(jobs) || jobs < 1) usage(`--jobs expects a positive integer, got ${value('--jobs')}`);
  if (!(timeout > 0)) usage(`--timeout expects seconds > 0, got ${value('--timeout')}`);
  return {
    keep: args.includes('--keep'),
    only: args.includes('--only') ? value('--only').split(',') : null,
    jobs,
    timeout,
    writeSizes: value('--write-sizes', null),
  };
}

function usage(message) {
  console.error(`release-test: ${message}`);
  process.exit(2);
}

const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)} s`;

function log(message) {
  process.stdout.write(`[release ${elapsed().padStart(5)}] ${message}\n`);
}

/**
 * Environment for a child: the npm_* and pnpm_* variables of the `pnpm test:release` invocation removed (a user's
 * shell has none), except the network settings (proxies, certificates) a CI machine may need.
 */
function childEnv(extra = {}) {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(npm|pnpm)_/i.test(key) || /proxy|cafile|_ca$|strict_ssl/i.test(key)) env[key] = value;
  }
  return { ...env, npm_config_update_notifier: 'false', npm_config_audit: 'false', npm_config_fund: 'false', ...extra };
}

/**
 * Runs a command in its own process group; resolves with its output, rejects with the command, the folder, why
 * it stopped and the output's tail. A timeout kills the whole group (pnpm -> turbo -> tsup, not just pnpm).
 */
function run(command, commandArgs, { cwd, env = childEnv(), timeout = 120_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, commandArgs, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    running.add(child);
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child);
    }, timeout);
    const done = () => {
      clearTimeout(timer);
      running.delete(child);
    };
    child.on('error', (error) => {
      done();
      reject(new Error(`${command} ${commandArgs.join(' ')} could not start: ${error.message}`));
    });
    child.on('close', (code, signal) => {
      done();
      if (code === 0 && !timedOut) return resolve(output);
      const why = timedOut ? `timed out after ${timeout / 1000} s` : `exited with ${code ?? signal}`;
      const where = cwd ? ` (in ${relative(work, cwd) || cwd})` : '';
      reject(new Error(`\`${command} ${commandArgs.join(' ')}\`${where} ${why}:\n${output.slice(-3000)}`));
    });
  });
}

function killGroup(child) {
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

async function check(name, fn) {
  const t0 = Date.now();
  try {
    const detail = await fn();
    results.push({ name, ok: true });
    log(`ok   ${name} (${((Date.now() - t0) / 1000).toFixed(0)} s)${detail ? `: ${detail}` : ''}`);
    return true;
  } catch (error) {
    results.push({ name, ok: false });
    log(`FAIL ${name} (${((Date.now() - t0) / 1000).toFixed(0)} s)\n${indent(error?.message ?? String(error))}`);
    return false;
  }
}

const indent = (text) => text.replace(/^/gm, '       ');

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
  // The uplink for everything but @deformjs: the registry npm is configured with here (CI may use a mirror).
  // Only the URL line: under pnpm, npm warns about pnpm's npm_config_* variables, and run() merges stderr in.
  const npmOutput = await run('npm', ['config', 'get', 'registry'], { cwd: repo, env: process.env });
  const uplink = npmOutput
    .split('\n')
    .find((line) => /^https?:\/\/\S+$/.test(line.trim()))
    ?.trim();
  if (!uplink) throw new Error(`npm config get registry printed no registry URL:\n${npmOutput}`);
  const dir = join(work, 'registry');
  mkdirSync(dir);
  writeFileSync(
    join(dir, 'config.yaml'),
    [
      `storage: ${join(dir, 'storage')}`,
      'auth:',
      '  htpasswd:',
      `    file: ${join(dir, 'htpasswd')}`,
      '    max_users: 10',
      'uplinks:',
      '  npmjs:',
      `    url: ${uplink}`,
      '    timeout: 60s',
      '    max_fails: 5',
      '    fail_timeout: 10s',
      'max_body_size: 200mb',
      'packages:',
      // No `proxy` line: an @deformjs package is served only when this run published it.
      "  '@deformjs/*':",
      '    access: $all',
      '    publish: $authenticated',
      "  '**':",
      '    access: $all',
      '    publish: $authenticated',
      '    proxy: npmjs',
      'log: { type: stdout, format: pretty, level: warn }',
      '',
    ].join('\n'),
  );
  registryProcess = spawn(bin('verdaccio'), ['--config', join(dir, 'config.yaml'), '--listen', `127.0.0.1:${port}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    env: childEnv(),
  });
  let output = '';
  registryProcess.stdout.on('data', (d) => (output = (output + d).slice(-20_000)));
  registryProcess.stderr.on('data', (d) => (output = (output + d).slice(-20_000)));
  const url = `http://127.0.0.1:${port}/`;
  for (const t0 = Date.now(); ;) {
    if (registryProcess.exitCode !== null) throw new Error(`verdaccio exited:\n${output}`);
    try {
      if ((await fetch(`${url}-/ping`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() - t0 > 90_000) throw new Error(`verdaccio did not answer on ${url} within 90 s:\n${output}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  const response = await fetch(`${url}-/user/org.couchdb.user:release-test`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'release-test', password: 'release-test-password' }),
  });
  const { token } = await response.json();
  if (!token) throw new Error(`verdaccio refused the test user (HTTP ${response.status})`);
  return { url, port, token, log: () => output };
}

function stopEverything() {
  for (const child of running) killGroup(child);
  if (registryProcess) killGroup(registryProcess);
}

/** The repository's files (tracked, and untracked but not ignored) copied into an empty folder, committed. */
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

const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));

async function publishAll(scratch, registry) {
  // The workspace's own dependencies, from the pnpm store (the same lockfile the repository installed).
  await run('pnpm', ['install', '--frozen-lockfile', '--offline'], { cwd: scratch, timeout: 300_000 }).catch(() =>
    run('pnpm', ['install', '--frozen-lockfile', '--prefer-offline'], { cwd: scratch, timeout: 600_000 }),
  );
  const env = childEnv({ npm_config_registry: registry.url, CI: '1' });
  await run('pnpm', ['changeset', 'version'], { cwd: scratch, env, timeout: 120_000 });
  await run('pnpm', ['release'], { cwd: scratch, env, timeout: 900_000 });
}

/** A package's packument from the local registry, or null when it is not there. */
async function packument(registry, name) {
  const response = await fetch(`${registry.url}${name.replace('/', '%2f')}`);
  if (response.status === 404) return null;
  if (!response.ok) throw new Error(`${name}: the registry answered HTTP ${response.status}`);
  return response.json();
}

/** The tarball the registry serves for name@version, checked against the packument's integrity. */
async function publishedTarball(registry, name, version, dest) {
  const doc = await packument(registry, name);
  const dist = doc?.versions?.[version]?.dist;
  if (!dist) throw new Error(`${name}@${version} is not on the local registry`);
  const response = await fetch(dist.tarball);
  if (!response.ok) throw new Error(`${dist.tarball}: HTTP ${response.status}`);
  const bytes = Buffer.from(await response.arrayBuffer());
  const [algorithm, expected] = dist.integrity.split('-');
  const actual = createHash(algorithm).update(bytes).digest('base64');
  if (actual !== expected) throw new Error(`${name}@${version}: tarball integrity ${actual} != ${expected}`);
  const file = join(dest, `${name.replace('@', '').replace('/', '-')}-${version}.tgz`);
  writeFileSync(file, bytes);
  return file;
}

async function lintTarball(pkg, registry, tarballs) {
  const tgz = await publishedTarball(registry, pkg.json.name, pkg.json.version, tarballs);
  const listing = (await run('tar', ['-tzf', tgz])).split('\n');
  const missing = ['package/LICENSE', 'package/README.md', 'package/CHANGELOG.md'].filter((f) => !listing.includes(f));
  if (missing.length) throw new Error(`not in the published tarball: ${missing.join(', ')}`);
  await run(bin('publint'), ['run', '--strict', tgz], { cwd: tarballs });
  await run(bin('attw'), [tgz, '--format', 'ascii'], { cwd: tarballs, timeout: 240_000 });
  return `${listing.length - 1} files`;
}

/** Every folder under node_modules holding a package.json, resolved (pnpm's links counted once). */
function installedPackageDirs(nodeModules) {
  const dirs = new Map();
  const visit = (dir, depth) => {
    if (depth > 20 || !existsSync(dir)) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === '.bin' || entry.name === '.cache') continue;
      const path = join(dir, entry.name);
      if (!entry.isDirectory() && !entry.isSymbolicLink()) continue;
      if (entry.name === '.pnpm') {
        for (const inner of readdirSync(path)) visit(join(path, inner, 'node_modules'), depth + 1);
      } else if (entry.name.startsWith('@')) {
        visit(path, depth + 1);
      } else if (existsSync(join(path, 'package.json'))) {
        const real = realpathSync(path);
        if (dirs.has(real)) continue;
        const json = readJson(join(real, 'package.json'));
        dirs.set(real, json);
        visit(join(path, 'node_modules'), depth + 1);
      }
    }
  };
  visit(nodeModules, 0);
  return dirs;
}

/** Bytes of the regular files under a folder (symbolic links not followed, hard links counted as found). */
function diskUsage(path) {
  let bytes = 0;
  const stack = [path];
  while (stack.length) {
    const p = stack.pop();
    const stat = lstatSync(p, { throwIfNoEntry: false });
    if (!stat || stat.isSymbolicLink()) continue;
    if (stat.isDirectory()) for (const entry of readdirSync(p)) stack.push(join(p, entry));
    else bytes += stat.size;
  }
  return bytes;
}

let esbuildPath = '';

function usesTfjs(json) {
  return Boolean(json.peerDependencies?.['@tensorflow/tfjs-core'] ?? json.dependencies?.['@tensorflow/tfjs-core']);
}

async function userInstall(manager, pkg, registry, { nodeOnly }) {
  const name = pkg.json.name;
  const folder = join(work, 'users', `${name.replace('@deformjs/', '')}-${manager}`);
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, 'package.json'), JSON.stringify({ name: 'user', version: '1.0.0', private: true }));
  const readme = readFileSync(join(pkg.dir, 'README.md'), 'utf8');
  const blocks = readmeBlocks(readme);
  const installBlock = blocks.filter((b) => b.tags.has('install'));
  const packages = installBlock.length === 1 ? installedPackages(installBlock[0]) : null;
  if (!packages) throw new Error(`${name}: the README needs one \`\`\`sh install block \`npm install <packages>\``);
  if (!packages.includes(name)) throw new Error(`${name}: the README's install line does not install ${name}`);

  // Tarballs from the machine's npm cache and pnpm store when there, looked up by integrity (the registry's
  // bytes); every packument from this run's registry: npm revalidates, pnpm gets an empty metadata cache.
  const t0 = Date.now();
  if (manager === 'npm') {
    const env = childEnv({ npm_config_registry: registry.url, npm_config_prefer_online: 'true' });
    await run('npm', ['install', '--no-package-lock', ...packages], { cwd: folder, env, timeout: INSTALL_TIMEOUT });
  } else {
    const env = childEnv({
      npm_config_registry: registry.url,
      npm_config_store_dir: pnpmStore,
      npm_config_cache_dir: join(work, 'pnpm-metadata'),
    });
    await run('pnpm', ['add', ...packages], { cwd: folder, env, timeout: INSTALL_TIMEOUT });
  }
  const seconds = (Date.now() - t0) / 1000;

  const problems = [];
  const nodeModules = join(folder, 'node_modules');
  const installed = installedPackageDirs(nodeModules);
  for (const [dir, json] of installed) {
    if (!json.name?.startsWith('@deformjs/')) continue;
    const ranges = { ...json.dependencies, ...json.peerDependencies, ...json.optionalDependencies };
    for (const [dep, range] of Object.entries(ranges)) {
      if (String(range).startsWith('workspace:')) problems.push(`${dep}@${range} in ${join(dir, 'package.json')}`);
    }
  }
  const tfjsCopies = [...installed].filter(([, json]) => json.name === '@tensorflow/tfjs-core').map(([dir]) => dir);
  const expected = usesTfjs(pkg.json) ? 1 : 0;
  if (tfjsCopies.length !== expected) {
    problems.push(
      `expected ${expected} @tensorflow/tfjs-core, found ${tfjsCopies.length}${tfjsCopies.map((d) => `\n  ${d}`).join('')}`,
    );
  }
  if (manager === 'npm' && !nodeOnly.has(name)) {
    const { build } = await import(esbuildPath);
    problems.push(...(await browserBundleProblems(build, folder, name)));
  }
  for (const dep of packages.filter((p) => p.startsWith('@deformjs/'))) {
    const code = `const m = require('${dep}'); if (!Object.keys(m).length) throw new Error('empty CommonJS exports');`;
    await run('node', ['-e', code], { cwd: folder }).catch((error) =>
      problems.push(`require('${dep}'): ${error.message}`),
    );
  }
  let ran = 0;
  for (const block of blocks.filter((b) => b.tags.has('runnable'))) {
    const { file, code } = await runnableFile(block, `readme-${block.line}`);
    writeFileSync(join(folder, file), code);
    await run('node', [file], { cwd: folder, timeout: 180_000 }).then(
      () => ran++,
      (error) => problems.push(`README block at line ${block.line}: ${error.message}`),
    );
  }
  const size = diskUsage(nodeModules);
  // Removed now, beside the other jobs, rather than all at the end.
  if (!options.keep) await rm(folder, { recursive: true, force: true, maxRetries: 3 });
  if (problems.length) throw new Error(problems.join('\n'));
  installs.push({ name, manager, size, count: installed.size, seconds });
  return `${formatSize(size)}, ${installed.size} packages, install ${seconds.toFixed(1)} s; ${ran} README blocks ran`;
}

const formatSize = (bytes) => (bytes < 1e6 ? `${(bytes / 1e3).toFixed(0)} KB` : `${(bytes / 1e6).toFixed(1)} MB`);

let pnpmStore = '';

/** Runs the jobs, at most `width` at a time, in order. */
async function pool(jobs, width) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, jobs.length) }, async () => {
      while (next < jobs.length) await jobs[next++]();
    }),
  );
}

/** Publishes a second minor of sampling and a dcn patch on it, then loads msda (first sampling) and dcn together. */
async function twoVersions(scratch, registry) {
  const samplingFile = join(scratch, 'packages/sampling/package.json');
  const dcnFile = join(scratch, 'packages/dcn/package.json');
  const msda = readJson(join(scratch, 'packages/msda/package.json')).version;
  const sampling = readJson(samplingFile);
  const dcn = readJson(dcnFile);
  const [major, minor] = sampling.version.split('.').map(Number);
  const [dMajor, dMinor, dPatch] = dcn.version.split('.').map(Number);
  writeFileSync(samplingFile, JSON.stringify({ ...sampling, version: `${major}.${minor + 1}.0` }, null, 2));
  writeFileSync(dcnFile, JSON.stringify({ ...dcn, version: `${dMajor}.${dMinor}.${dPatch + 1}` }, null, 2));
  const env = childEnv({ npm_config_registry: registry.url, CI: '1' });
  await run('pnpm', ['exec', 'turbo', 'run', 'build', '--filter=@deformjs/sampling', '--filter=@deformjs/dcn'], {
    cwd: scratch,
    env,
    timeout: 600_000,
  });
  // pnpm publish turns dcn's `workspace:^` into ^ the new sampling version.
  for (const dir of ['sampling', 'dcn']) {
    await run('pnpm', ['publish', '--no-git-checks'], { cwd: join(scratch, 'packages', dir), env, timeout: 120_000 });
  }
  const newDcn = `${dMajor}.${dMinor}.${dPatch + 1}`;
  const folder = join(work, 'users', 'two-versions');
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, 'package.json'), JSON.stringify({ name: 'user', version: '1.0.0', private: true }));
  await run(
    'npm',
    ['install', `@deformjs/msda@${msda}`, `@deformjs/dcn@${newDcn}`, '@deformjs/core', '@tensorflow/tfjs-core'],
    {
      cwd: folder,
      env: childEnv({ npm_config_registry: registry.url, npm_config_prefer_online: 'true' }),
      timeout: INSTALL_TIMEOUT,
    },
  );
  const samplings = [...installedPackageDirs(join(folder, 'node_modules')).values()]
    .filter((json) => json.name === '@deformjs/sampling')
    .map((json) => json.version)
    .sort();
  if (samplings.length !== 2)
    throw new Error(`expected two versions of @deformjs/sampling, found ${samplings.join(', ') || 'none'}`);
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
  const output = await run('node', ['both.mjs'], { cwd: folder });
  for (const version of samplings) {
    if (!output.includes(`@deformjs/sampling@${version}`))
      throw new Error(`the error does not name @deformjs/sampling@${version}:\n${output}`);
  }
  return `msda ${msda} and dcn ${newDcn} (sampling ${samplings.join(' and ')}): ${output.trim().split('\n').pop().slice(0, 160)}...`;
}

function sizeTable(names) {
  const rows = names.map((name) => {
    const cell = (manager) => {
      const i = installs.find((x) => x.name === name && x.manager === manager);
      return i ? [formatSize(i.size), String(i.count)] : ['failed', '-'];
    };
    return [`\`${name}\``, ...cell('npm'), ...cell('pnpm')];
  });
  return markdownTable(['package', 'npm size', 'npm packages', 'pnpm size', 'pnpm packages'], rows, [
    'left',
    'right',
    'right',
    'right',
    'right',
  ]);
}

async function writeSizes(file, names) {
  const versions = async (cmd) => (await run(cmd, ['--version'], { cwd: repo })).trim();
  const text = `# Install size and package count

Each package installed alone into an empty folder from a local registry, with its README's install line (the
package and what its examples import; \`@tensorflow/tfjs-core\` included where the package uses tensors).
Size: bytes of the files under \`node_modules\` (pnpm: the links into its store, each file once per path);
packages: installed package folders, each counted once.

Written by \`node scripts/release-test.mjs --write-sizes ${file}\` on ${new Date().toISOString().slice(0, 10)}
(Node ${process.version}, npm ${await versions('npm')}, pnpm ${await versions('pnpm')}, ${process.platform}-${process.arch}).

${sizeTable(names)}
`;
  mkdirSync(dirname(join(repo, file)), { recursive: true });
  writeFileSync(join(repo, file), text);
  log(`wrote ${file}`);
}

async function main() {
  work = mkdtempSync(join(tmpdir(), 'deformjs-release-'));
  log(`working in ${work}`);
  esbuildPath = createRequire(import.meta.resolve('tsup')).resolve('esbuild');
  pnpmStore = (await run('pnpm', ['store', 'path'], { cwd: repo })).trim();
  const registry = await startRegistry();
  log(`registry ${registry.url}`);
  const scratch = await scratchCopy();
  writeFileSync(join(scratch, '.npmrc'), `//127.0.0.1:${registry.port}/:_authToken=${registry.token}\n`);
  log(`scratch copy ${scratch}`);

  let packages = workspacePackages(scratch);
  const published = await check(
    `publish every package with \`pnpm release\` (after \`changeset version\`) from a scratch copy`,
    async () => {
      await publishAll(scratch, registry);
      packages = workspacePackages(scratch);
      const missing = [];
      for (const p of packages) {
        const doc = await packument(registry, p.json.name);
        if (!doc?.versions?.[p.json.version]) missing.push(`${p.json.name}@${p.json.version}`);
      }
      if (missing.length) throw new Error(`not on the registry after \`pnpm release\`: ${missing.join(', ')}`);
      return `${packages.length} packages: ${packages.map((p) => `${p.json.name.slice('@deformjs/'.length)}@${p.json.version}`).join(' ')}`;
    },
  );
  if (!published) return;

  await check('changesets gave no version or CHANGELOG to private apps', async () => {
    for (const app of readdirSync(join(scratch, 'apps'))) {
      const file = join(scratch, 'apps', app, 'package.json');
      if (!existsSync(file)) continue;
      const json = readJson(file);
      if (json.version !== '0.0.0') throw new Error(`${json.name} was versioned ${json.version}`);
      if (existsSync(join(scratch, 'apps', app, 'CHANGELOG.md'))) throw new Error(`${json.name} got a CHANGELOG.md`);
    }
  });

  const selected = packages.filter(
    (p) => !options.only || options.only.includes(p.json.name.replace('@deformjs/', '')),
  );
  const nodeOnly = nodeOnlyPackages(packages);
  log(`Node-only (no browser entry check): ${[...nodeOnly].join(', ')}`);
  const tarballs = join(work, 'tarballs');
  mkdirSync(tarballs);
  const jobs = selected.flatMap((pkg) => [
    () =>
      check(`${pkg.json.name}: published tarball, publint --strict, attw`, () => lintTarball(pkg, registry, tarballs)),
    ...['npm', 'pnpm'].map(
      (manager) => () =>
        check(`${pkg.json.name}: installed alone with ${manager}, README blocks run`, () =>
          userInstall(manager, pkg, registry, { nodeOnly }),
        ),
    ),
  ]);
  await pool(jobs, options.jobs);

  if (!options.only || (options.only.includes('msda') && options.only.includes('dcn'))) {
    await check('two versions of @deformjs/sampling in one process are refused naming both', () =>
      twoVersions(scratch, registry),
    );
  }

  const names = selected.map((p) => p.json.name);
  log(`install size and package count:\n${sizeTable(names)}`);
  if (options.writeSizes) await writeSizes(options.writeSizes, names);
}

function finish(exitCode) {
  if (finished) return;
  finished = true;
  stopEverything();
  if (work && !options.keep) rmSync(work, { recursive: true, force: true, maxRetries: 3 });
  else if (work) log(`kept ${work}`);
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  log(`done in ${elapsed()}`);
  console.log(`release: ${passed} passed, ${failed} failed`);
  process.exit(exitCode ?? (failed ? 1 : 0));
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    log(`stopped by ${signal}`);
    finish(130);
  });
}

const deadline = setTimeout(() => {
  results.push({ name: 'deadline', ok: false });
  log(`FAIL the whole test took longer than --timeout ${options.timeout} s; stopping`);
  finish(1);
}, options.timeout * 1000);
deadline.unref();

main().then(
  () => finish(),
  (error) => {
    results.push({ name: 'setup', ok: false });
    log(`FAIL ${error?.stack ?? error}`);
    finish(1);
  },
);
