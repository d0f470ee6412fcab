// README code blocks as tests. A fence's info string says what a block is:
//   ```ts runnable      run as written (ESM; `cjs` added: CommonJS), by `pnpm test:readme` in the workspace
//                       and by the release test in an empty folder after installing the README's install line
//   ```ts fragment      type-checked only (it needs files or data the reader supplies)
//   ```sh install       the one install command of a package README: `npm install <packages>`
// Every ts/js block must say runnable or fragment, so no example can silently rot.
import { builtinModules } from 'node:module';

const CODE_LANGS = new Set(['ts', 'typescript', 'js', 'javascript', 'mjs', 'cjs']);

/** The fenced blocks of a markdown file: language, tags, code and the line of the opening fence (1-based). */
export function readmeBlocks(markdown) {
  const blocks = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*(.*)$/.exec(lines[i]);
    if (!open) continue;
    const start = i;
    const body = [];
    for (i++; i < lines.length && !lines[i].startsWith('```'); i++) body.push(lines[i]);
    const tags = new Set(open[2].split(/\s+/).filter(Boolean));
    blocks.push({ lang: open[1], tags, code: body.join('\n') + '\n', line: start + 1 });
  }
  return blocks;
}

/** Problems with a README's blocks: untagged code, a missing or malformed install line, undeclared imports. */
export function readmeProblems(markdown, { requireInstall }) {
  const problems = [];
  const blocks = readmeBlocks(markdown);
  const installs = blocks.filter((b) => b.tags.has('install'));
  if (requireInstall && installs.length !== 1) {
    problems.push(`expected one \`\`\`sh install block, found ${installs.length}`);
  }
  const installed = installs.length === 1 ? installedPackages(installs[0]) : null;
  if (installs.length === 1 && installed === null) {
    problems.push(`line ${installs[0].line}: the install block must be one line \`npm install <packages>\``);
  }
  for (const block of blocks.filter((b) => CODE_LANGS.has(b.lang))) {
    if (!block.tags.has('runnable') && !block.tags.has('fragment')) {
      problems.push(`line ${block.line}: a ${block.lang} block must be tagged runnable or fragment`);
    }
    for (const specifier of bareImports(block.code)) {
      const pkg = packageOf(specifier);
      if (isBuiltin(specifier) || (installed && installed.includes(pkg))) continue;
      if (installed) problems.push(`line ${block.line}: imports ${specifier}, which the install line does not install`);
    }
  }
  return problems;
}

/** The packages an install block installs, or null when it is not a single `npm install a b c` line. */
export function installedPackages(block) {
  const lines = block.code.trim().split('\n');
  const match = lines.length === 1 ? /^npm install((?: [@a-z0-9./_-]+)+)$/.exec(lines[0].trim()) : null;
  return match ? match[1].trim().split(' ') : null;
}

/** Every bare specifier a block imports or requires (relative paths excluded). */
export function bareImports(code) {
  const found = new Set();
  const patterns = [
    /\bfrom\s+'([^']+)'/g,
    /\bimport\s+'([^']+)'/g,
    /\bimport\(\s*'([^']+)'\s*\)/g,
    /\brequire\(\s*'([^']+)'\s*\)/g,
  ];
  for (const pattern of patterns) for (const m of code.matchAll(pattern)) if (!m[1].startsWith('.')) found.add(m[1]);
  return [...found];
}

export function packageOf(specifier) {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

export function isBuiltin(specifier) {
  return specifier.startsWith('node:') || builtinModules.includes(specifier);
}

/**
 * A runnable block as a file Node runs: TypeScript types stripped (what tsx or tsc do for a reader), nothing
 * else changed. Returns the file name to use and its text.
 */
export async function runnableFile(block, name) {
  const cjs = block.tags.has('cjs');
  let code = block.code;
  if (block.lang === 'ts' || block.lang === 'typescript') {
    const { default: ts } = await import('typescript');
    const module = cjs ? ts.ModuleKind.CommonJS : ts.ModuleKind.ESNext;
    code = ts.transpileModule(code, { compilerOptions: { module, target: ts.ScriptTarget.ES2022 } }).outputText;
  }
  return { file: `${name}.${cjs ? 'cjs' : 'mjs'}`, code };
}
