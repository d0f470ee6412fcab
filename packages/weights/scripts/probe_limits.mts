// Measures hostile-input cases (issue 15): `node --import tsx scripts/probe_limits.mts <case> [src dir]`, from the package folder.
// Crafts one file, reads it, prints file size, time, RSS and the outcome; run_limits.sh adds peak RSS.
import { bytes, craftedPth, float, int, shortText, u32 } from '../test/craft';
const [, , which, src = new URL('../src', import.meta.url).pathname] = process.argv;
const w = await import(`${src}/index.ts`);
const four = Float32Array.from([1, 2, 3, 4]);
const opts = { fileName: 'x.pkl', allowed: {} };
let file: Uint8Array;
let run: () => unknown;
switch (which) {
  case 'long4-256k':
  case 'long4-1m': {
    const n = which === 'long4-1m' ? 1 << 20 : 256 << 10;
    const body = new Uint8Array(n).fill(0x5a);
    file = bytes(0x80, 2, 0x8b, u32(n), body, 0x2e);
    run = () => typeof w.unpickle(file, opts);
    break;
  }
  case 'stride0': {
    file = craftedPth(four, int(4), [20000, 20000], [0, 0]);
    run = () => w.stateDictOf(w.readPth(file, 'bomb.pth')).w.shape;
    break;
  }
  case 'nan-numel': {
    file = craftedPth(four, float(NaN), [1000], [1]);
    run = () => {
      const t = w.stateDictOf(w.readPth(file, 'nan.pth')).w;
      return `shape [${t.shape}] with ${t.values.length} values`;
    };
    break;
  }
  case 'nested-100k': {
    const parts: Uint8Array[] = [bytes(0x80, 2)];
    for (let i = 0; i < 100000; i++) parts.push(bytes(0x7d), shortText('a'));
    parts.push(bytes(0x7d));
    for (let i = 0; i < 100000; i++) parts.push(bytes(0x73));
    file = bytes(parts, 0x2e);
    run = () => Object.keys(w.stateDictOf(w.unpickle(file, { fileName: 'deep.pkl', allowed: {} }))).length;
    break;
  }
  case 'cycle': {
    file = bytes(0x80, 2, 0x7d, 0x94, shortText('self'), 0x68, 0, 0x73, 0x2e);
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
