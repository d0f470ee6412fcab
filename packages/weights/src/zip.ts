import { Inflate } from 'fflate';
import type { MemoryBudget } from './budget';

/**
 * A reader for the zip archives `torch.save` writes: entries stored uncompressed (method 0, returned as views
 * of `bytes`, no copy), with ZIP64 records for large files, and deflated entries (method 8), which torch never
 * writes but a checkpoint re-zipped by other tools holds. Every offset is bounds-checked against the archive,
 * and an inflated entry must have exactly its declared size, which counts against `budget` before any
 * inflating; inflation stops as soon as it passes that size (a zip bomb costs at most its declared size).
 */
export function readZip(bytes: Uint8Array, fileName: string, budget: MemoryBudget): Map<string, Uint8Array> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (what: string) => new Error(`${fileName}: corrupt zip archive: ${what}`);
  const u16 = (at: number) => checked(at, 2) && view.getUint16(at, true);
  const u32 = (at: number) => checked(at, 4) && view.getUint32(at, true);
  const u64 = (at: number) => {
    checked(at, 8);
    const value = view.getBigUint64(at, true);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw fail(`a 64-bit field at ${at} is too large`);
    return Number(value);
  };
  function checked(at: number, size: number): true {
    if (at < 0 || at + size > bytes.length)
      throw fail(`a record at byte ${at} runs past the end (${bytes.length} bytes)`);
    return true;
  }

  let eocd = -1;
  for (let at = bytes.length - 22; at >= Math.max(0, bytes.length - 22 - 0xffff); at--) {
    if (view.getUint32(at, true) === 0x06054b50) {
      eocd = at;
      break;
    }
  }
  if (eocd < 0)
    throw new Error(
      `${fileName}: not a zip archive (no end-of-central-directory record); is it a legacy (pre-1.6) torch.save file?`,
    );
  let count = u16(eocd + 10) as number;
  let dirOffset = u32(eocd + 16) as number;
  if (count === 0xffff || dirOffset === 0xffffffff) {
    const locator = eocd - 20;
    if (u32(locator) !== 0x07064b50) throw fail('ZIP64 fields without a ZIP64 locator');
    const record = u64(locator + 8);
    if (u32(record) !== 0x06064b50) throw fail('ZIP64 locator points at no ZIP64 record');
    count = u64(record + 32);
    dirOffset = u64(record + 48);
  }

  const entries = new Map<string, Uint8Array>();
  let at = dirOffset;
  for (let i = 0; i < count; i++) {
    if (u32(at) !== 0x02014b50) throw fail(`central directory entry ${i} has a bad signature`);
    const method = u16(at + 10) as number;
    let compressedSize = u32(at + 20) as number;
    let size = u32(at + 24) as number;
    const nameLength = u16(at + 28) as number;
    const extraLength = u16(at + 30) as number;
    const commentLength = u16(at + 32) as number;
    let localOffset = u32(at + 42) as number;
    checked(at + 46, nameLength + extraLength);
    const name = new TextDecoder().decode(bytes.subarray(at + 46, at + 46 + nameLength));
    // ZIP64 extended information: the 64-bit values present are those whose 32-bit field is saturated.
    for (let e = at + 46 + nameLength; e + 4 <= at + 46 + nameLength + extraLength;) {
      const id = u16(e) as number;
      const length = u16(e + 2) as number;
      if (id === 0x0001) {
        let p = e + 4;
        if (size === 0xffffffff) {
          size = u64(p);
          p += 8;
        }
        if (compressedSize === 0xffffffff) {
          compressedSize = u64(p);
          p += 8;
        }
        if (localOffset === 0xffffffff) localOffset = u64(p);
      }
      e += 4 + length;
    }
    if (method !== 0 && method !== 8)
      throw new Error(
        `${fileName}: zip entry '${name}' uses compression method ${method}; only stored (0) and deflated (8) entries are supported`,
      );
    if (method === 0 && compressedSize !== size)
      throw fail(`stored entry '${name}' has compressed size ${compressedSize} != size ${size}`);
    if (u32(localOffset) !== 0x04034b50) throw fail(`entry '${name}' points at no local header`);
    const dataStart = localOffset + 30 + (u16(localOffset + 26) as number) + (u16(localOffset + 28) as number);
    checked(dataStart, compressedSize);
    const data = bytes.subarray(dataStart, dataStart + compressedSize);
    if (method === 0) entries.set(name, data);
    else {
      budget.take(size, `inflating zip entry '${name}'`);
      entries.set(
        name,
        inflateExactly(data, size, (what) => fail(`deflated entry '${name}' ${what}`)),
      );
    }
    at += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

/** Inflates raw deflate data that must come to exactly `size` bytes, fed in slices so an overrun stops early. */
function inflateExactly(data: Uint8Array, size: number, fail: (what: string) => Error): Uint8Array {
  const out = new Uint8Array(size);
  let written = 0;
  let overrun: Error | null = null;
  const inflater = new Inflate((chunk) => {
    if (written + chunk.length > size) throw (overrun = fail(`inflates past its declared size of ${size} bytes`));
    out.set(chunk, written);
    written += chunk.length;
  });
  const SLICE = 1 << 14;
  try {
    for (let at = 0; at < data.length || at === 0; at += SLICE)
      inflater.push(data.subarray(at, at + SLICE), at + SLICE >= data.length);
  } catch (error) {
    throw overrun ?? fail(`is not valid deflate data (${(error as Error).message})`);
  }
  if (written !== size) throw fail(`inflates to ${written} bytes, not its declared ${size}`);
  return out;
}
