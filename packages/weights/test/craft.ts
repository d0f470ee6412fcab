import { zipSync } from 'fflate';

/** Builders for crafted pickles and .pth files, shared by the hostile-input tests and scripts/probe_limits.mts. */

/** Pickle bytes: numbers are bytes, strings are latin-1 text, arrays are spliced in. */
export function bytes(...parts: (number | string | Uint8Array | Uint8Array[])[]): Uint8Array {
  const flat = parts.flat();
  const chunks = flat.map((part) =>
    typeof part === 'number'
      ? Uint8Array.of(part)
      : typeof part === 'string'
        ? Uint8Array.from(part, (c) => c.charCodeAt(0))
        : part,
  );
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
export const u32 = (n: number) => bytes(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24);
export const shortText = (s: string) => bytes(0x8c, s.length, s);
export const int = (n: number) => bytes(0x4a, u32(n)); // BININT
export const float = (x: number) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setFloat64(0, x, false);
  return bytes(0x47, b); // BINFLOAT
};
export const tuple = (...items: (number | string | Uint8Array)[]) => bytes(0x28, ...items, 0x74);

/** A zip checkpoint holding one float tensor `w` = rebuild(storage of `numel` floats, offset, size, stride). */
export function craftedPth(storage: Float32Array, numel: Uint8Array, size: number[], stride: number[]): Uint8Array {
  const pickle = bytes(
    0x80,
    0x02,
    0x7d, // EMPTY_DICT
    shortText('w'),
    'ctorch._utils\n_rebuild_tensor_v2\n',
    tuple(
      tuple(shortText('storage'), 'ctorch\nFloatStorage\n', shortText('0'), shortText('cpu'), numel),
      0x51, // BINPERSID
      int(0),
      tuple(...size.map(int)),
      tuple(...stride.map(int)),
      0x89, // False
      0x7d,
    ),
    0x52, // REDUCE
    0x73, // SETITEM
    0x2e,
  );
  return zipSync(
    {
      'archive/data.pkl': pickle,
      'archive/data/0': new Uint8Array(storage.buffer),
      'archive/byteorder': bytes('little'),
    },
    { level: 0 },
  );
}
