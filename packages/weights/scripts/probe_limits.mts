// Measures hostile-input cases (issue 15): `node --import tsx scripts/probe_limits.mts <case> [src dir]`, from the package folder.
// Crafts one file, reads it, prints file size, time, RSS and the outcome; run_limits.sh adds peak RSS.
import { zipSync } from 'fflate';
const [, , which, src = new URL('../src', import.meta.url).pathname] = process.argv;
const w = await import(`${src}/index.ts`);
function cat(parts: (number | string | Uint8Array)[]): Uint8Array {
  const chunks = parts.map((p) =>
    typeof p === 'number' ? Uint8Array.of(p) : typeof p === 'string' ? Uint8Array.from(p, (c) => c.charCodeAt(0)) : p,
  );
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
const u32 = (n: number) => cat([n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24]);
const st = (s: string) => cat([0x8c, s.length, s]);
const int = (n: number) => cat([0x4a, u32(n)]);
const tup = (...x: Uint8Array[]) => cat([0x28, ...x, 0x74]);
function pth(numel: Uint8Array, size: number[], stride: number[]) {
  const pickle = cat([
    0x80,
    2,
    0x7d,
    st('w'),
    'ctorch._utils\n_rebuild_tensor_v2\n',
    tup(
      tup(st('storage'), 'ctorch\nFloatStorage\n', st('0'), st('cpu'), numel),
      cat([0x51]),
      int(0),
      tup(...size.map(int)),
      tup(...stride.map(int)),
      cat([0x89, 0x7d]),
    ),
    0x52,
    0x73,
    0x2e,
  ]);
  return zipSync(
    { 'archive/data.pkl': pickle, 'archive/data/0': new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer) },
    { level: 0 },
  );
}
const opts = { fileName: 'x.pkl', allowed: {} };
let file: Uint8Array;
let run: () => unknown;
switch (which) {
  case 'long4-256k':
  case 'long4-1m': {
    const n = which === 'long4-1m' ? 1 << 20 : 256 << 10;
    const body = new Uint8Array(n).fill(0x5a);
    file = cat([0x80, 2, 0x8b, u32(n), body, 0x2e]);
    run = () => typeof w.unpickle(file, opts);
    break;
  }
  case 'stride0': {
    const nan = new Uint8Array(9);
    nan[0] = 0x47;
    new DataView(nan.buffer).setFloat64(1, NaN, false);
    file = pth(int(4), [20000, 20000], [0, 0]);
    run = () => w.stateDictOf(w.readPth(file, 'bomb.pth')).w.shape;
    break;
  }
  case 'nan-numel': {
    const nan = new Uint8Array(9);
    nan[0] = 0x47;
    new DataView(nan.buffer).setFloat64(1, NaN, false);
    file = pth(nan, [1000], [1]);
    run = () => {
      const t = w.stateDictOf(w.readPth(file, 'nan.pth')).w;
      return `shape [${t.shape}] with ${t.values.length} values`;
    };
    break;
  }
  case 'nested-100k': {
    const parts: (number | Uint8Array)[] = [0x80, 2];
    for (let i = 0; i < 100000; i++) parts.push(0x7d, st('a'));
    parts.push(0x7d);
    for (let i = 0; i < 100000; i++) parts.push(0x73);
    parts.push(0x2e);
    file = cat(parts);
    run = () => Object.keys(w.stateDictOf(w.unpickle(file, { fileName: 'deep.pkl', allowed: {} }))).length;
    break;
  }
  case 'cycle': {
    file = cat([0x80, 2, 0x7d, 0x94, st('self'), 0x68, 0, 0x73, 0x2e]);
    run = () => Object.keys(w.stateDictOf(w.unpickle(file, { fileName: 'cycle.pkl', allowed: {} }))).length;
    break;
  }
  case 'proto': {
    const json = new TextEncoder().encode('{"__proto__": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}');
    file = new Uint8Array(8 + json.length + 4);
    new DataView(file.buffer).setBigUint64(0, BigInt(json.length), true);
    file.set(json, 8);
    run = () => `tensors: [${Object.keys(w.readSafetensors(file, 'p.st').tensors)}]`;
    break;
  }
  case 'deflated': {
    const { readFileSync } = await import('node:fs');
    file = readFileSync(`${src}/../test/fixtures/deflated.pth`);
    run = () => Object.keys(w.stateDictOf(w.readPth(file, 'deflated.pth'))).length + ' tensors';
    break;
  }
  default:
    throw new Error(which);
}
const t0 = performance.now();
let outcome: string;
try {
  outcome = `ok: ${String(run())}`;
} catch (e) {
  outcome = `error: ${(e as Error).message.slice(0, 160)}`;
}
console.log(
  `${which}\tfile ${file.length} B\t${((performance.now() - t0) / 1000).toFixed(2)} s\trss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MB\t${outcome}`,
);
