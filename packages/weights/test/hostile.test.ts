import { readFileSync } from 'node:fs';
import { zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { readPth, readSafetensors, stateDictOf, unpickle, writeSafetensors, type PickleDict } from '../src/index';
import { readPthFile } from '../src/node';
import { bytes, craftedPth, float, int, shortText, u32 } from './craft';

/**
 * Files crafted to cost time, memory or stack out of proportion to their size (issue 15, items 7 to 9 and 12):
 * each must be read in time linear in its size and memory bounded by what it declares, or refused naming it.
 */

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url).pathname;

const opts = { fileName: 'x.pkl', allowed: {} };

describe('hostile .pth and pickle input', () => {
  it('decodes LONG1 and LONG4 integers in time linear in their length (item 7)', () => {
    // 256 KB took 53 s with a BigInt shift per byte; read linearly it is instant, so the test's default
    // timeout catches a quadratic decoder.
    const n = 256 * 1024;
    const one = new Uint8Array(n);
    one[n - 2] = 1; // 2^(8(n-2)), positive (top byte 0)
    expect(unpickle(bytes(0x80, 0x02, 0x8b, u32(n), one, 0x2e), opts)).toBe(1n << BigInt(8 * (n - 2)));
    const minusOne = new Uint8Array(4 * n).fill(0xff);
    expect(unpickle(bytes(0x80, 0x02, 0x8b, u32(4 * n), minusOne, 0x2e), opts)).toBe(-1);
    expect(unpickle(bytes(0x80, 0x02, 0x8a, 2, 0x00, 0x80, 0x2e), opts)).toBe(-32768);
    expect(unpickle(bytes(0x80, 0x02, 0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0x2e), opts)).toBe(2n ** 63n);
  });

  it('bounds what a strided view materialises, and checks every view against its storage (item 8)', () => {
    const four = Float32Array.from([1, 2, 3, 4]);
    // 632 bytes declaring a 20000 x 20000 stride-0 view of 4 floats: 1.6 GB of values, 4.6 GB of RSS before.
    const bomb = craftedPth(four, int(4), [20000, 20000], [0, 0]);
    expect(bomb.length).toBeLessThan(1000);
    expect(() => readPth(bomb, 'bomb.pth')).toThrow(
      /bomb\.pth: a \[20000,20000\] F32 tensor needs 4800000000 bytes, past the 67108864-byte limit for this file/,
    );
    // An honest expanded view within the limit loads, and the caller can lower (or raise) the limit.
    const expanded = craftedPth(four, int(4), [300, 2], [0, 1]);
    const w = stateDictOf(readPth(expanded, 'expanded.pth')).w;
    expect(w.shape).toEqual([300, 2]);
    expect(Array.from(w.values.subarray(596))).toEqual([1, 2, 1, 2]);
    expect(() => readPth(expanded, 'expanded.pth', { maxMemoryBytes: 1000 })).toThrow(
      /expanded\.pth: a \[300,2\] F32 tensor needs 7200 bytes, past the 1000-byte limit/,
    );
    // A view reaching past its storage, and storage element counts that are not counts.
    expect(() => readPth(craftedPth(four, int(4), [2, 2], [3, 1]), 'past.pth')).toThrow(
      /past\.pth: tensor on storage '0': view \(offset 0, size \[2,2\], stride \[3,1\]\) reaches element 4 of a 4-element storage/,
    );
    expect(() => readPth(craftedPth(four, float(NaN), [1000], [1]), 'nan.pth')).toThrow(
      /nan\.pth: malformed storage id for key 0 \(element count NaN\)/,
    );
    expect(() => readPth(craftedPth(four, int(-1), [1], [1]), 'negative.pth')).toThrow(/element count -1/);
    expect(() => readPth(craftedPth(four, int(1000), [1000], [1]), 'short.pth')).toThrow(
      /short\.pth: storage '0' holds 16 bytes, fewer than 1000 x F32/,
    );
  });

  it('refuses deep nesting and cycles with an error naming the file, not a stack overflow (item 9)', () => {
    // 20k nested dicts {'a': {'a': ...}}: unpickled iteratively, then walked recursively by stateDictOf.
    const depth = 20_000;
    const parts: Uint8Array[] = [bytes(0x80, 0x02)];
    for (let i = 0; i < depth; i++) parts.push(bytes(0x7d), shortText('a'));
    parts.push(bytes(0x7d));
    for (let i = 0; i < depth; i++) parts.push(bytes(0x73));
    const deep = bytes(parts, 0x2e);
    expect(() => stateDictOf(unpickle(deep, { fileName: 'deep.pkl', allowed: {} }))).toThrow(
      /deep\.pkl: refusing to unpickle: nesting deeper than 1000 levels/,
    );
    // d = {}; d['self'] = d
    const cyclic = bytes(0x80, 0x02, 0x7d, 0x94, shortText('self'), 0x68, 0, 0x73, 0x2e);
    expect(() => stateDictOf(unpickle(cyclic, { fileName: 'cycle.pkl', allowed: {} }))).toThrow(
      /cycle\.pkl: refusing to unpickle: the structure contains itself/,
    );
    // A list shared 100k times by reference (the memo) is checked once, not once per reference.
    const references = new Uint8Array(200_000);
    for (let i = 0; i < references.length; i += 2) references[i] = 0x68; // BINGET 0
    const shared = bytes(0x80, 0x02, 0x5d, 0x94, 0x30, 0x5d, 0x28, references, 0x65, 0x2e);
    const list = unpickle(shared, opts) as unknown[][];
    expect(list).toHaveLength(100_000);
    // A tuple nested as a dict key would be stringified recursively: refused.
    const keyed = bytes(0x80, 0x02, 0x7d, 0x29, 0x85, 0x85, 0x4e, 0x73, 0x2e);
    expect(() => unpickle(keyed, opts)).toThrow(/x\.pkl: refusing to unpickle: a dict key that is a container/);
  });

  it('reads deflated zip entries (the re-zipped deflated.pth fixture), bounded by their declared size', () => {
    const plain = stateDictOf(readPthFile(fixture('data_parallel.pth')));
    const deflated = stateDictOf(readPthFile(fixture('deflated.pth')));
    expect(Object.keys(deflated)).toEqual(Object.keys(plain));
    for (const k of Object.keys(plain)) expect(Array.from(deflated[k].values), k).toEqual(Array.from(plain[k].values));
    // A zip bomb: 4 MB of zeros deflated to ~20 KB, declared as 1000 bytes: inflation stops past 1000.
    const bomb = zipSync({ 'archive/data.pkl': new Uint8Array(4_000_000) }, { level: 1 });
    const entry = new DataView(bomb.buffer);
    let central = bomb.length - 4;
    while (entry.getUint32(central, true) !== 0x02014b50) central--;
    entry.setUint32(central + 24, 1000, true);
    expect(() => readPth(bomb, 'bomb.pth')).toThrow(
      /bomb\.pth: corrupt zip archive: deflated entry 'archive\/data\.pkl' inflates past its declared size of 1000 bytes/,
    );
    entry.setUint32(central + 24, 4_000_000, true);
    expect(() => readPth(bomb, 'bomb.pth', { maxMemoryBytes: 1 << 20 })).toThrow(
      /bomb\.pth: inflating zip entry 'archive\/data\.pkl' needs 4000000 bytes, past the 1048576-byte limit/,
    );
  });
});

describe('hostile safetensors input', () => {
  it('returns a tensor named __proto__ like any other (item 12)', () => {
    const data = new Uint8Array(new Float32Array([1, 2, 3]).buffer);
    const header = JSON.parse(
      '{"__proto__": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}, "__metadata__": {"__proto__": "kept"}}',
    ) as object;
    const json = new TextEncoder().encode(JSON.stringify(header));
    const file = new Uint8Array(8 + json.length + data.length);
    new DataView(file.buffer).setBigUint64(0, BigInt(json.length), true);
    file.set(json, 8);
    file.set(data, 8 + json.length);
    const { tensors, metadata } = readSafetensors(file, 'proto.safetensors');
    expect(Object.keys(tensors)).toEqual(['__proto__', 'b']);
    expect(Array.from(tensors['__proto__'].values)).toEqual([1, 2]);
    expect(metadata['__proto__']).toBe('kept');
    // And written back under the same name.
    const again = readSafetensors(writeSafetensors(tensors, metadata), 'again.safetensors');
    expect(Object.keys(again.tensors)).toEqual(['__proto__', 'b']);
    expect(Array.from(again.tensors['__proto__'].values)).toEqual([1, 2]);
    expect(({} as PickleDict).dtype).toBeUndefined();
  });

  it('keeps the legacy reader within its file too', () => {
    const bytesOfLegacy = new Uint8Array(readFileSync(fixture('checkpoint_legacy.pth')));
    expect(() => readPth(bytesOfLegacy, 'legacy.pth', { maxMemoryBytes: 100 })).toThrow(
      /legacy\.pth: a \[\d+(,\d+)*\] \w+ tensor needs \d+ bytes, past the 100-byte limit/,
    );
  });
});
