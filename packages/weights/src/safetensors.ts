import * as tf from '@tensorflow/tfjs-core';
import { assertOneOf } from '@deformjs/core';
import { ITEM_SIZE, STORED_DTYPES, convertStored, floatToHalf, tfDtypeOf, type StoredDtype } from './dtypes';
import { emptyRecord, type TensorData } from './tensor_data';

/** The header of a safetensors file can hold at most this many bytes (the reference reader's limit). */
const MAX_HEADER_BYTES = 100_000_000;

export interface SafetensorsContents {
  tensors: Record<string, TensorData>;
  /** The free-form string map stored under `__metadata__` (empty when absent). */
  metadata: Record<string, string>;
}

interface Entry {
  name: string;
  dtype: StoredDtype;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Parses a safetensors file: 8-byte little-endian header length, a JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {..}}`, then the data. Everything is
 * checked before any data is read: the header length against the file size, every dtype, shape and offset
 * pair, and that the tensors tile the data block exactly (sorted by offset, no overlap, no gap, nothing past
 * the end). Errors name `fileName` and the tensor. Dtypes convert by the rule in `dtypes.ts`.
 */
export function readSafetensors(bytes: Uint8Array, fileName = 'safetensors'): SafetensorsContents {
  const entries = parseHeader(bytes, fileName);
  const dataStart = 8 + headerLength(bytes, fileName);
  const tensors = emptyRecord<TensorData>();
  for (const e of entries.entries) {
    const slice = bytes.subarray(dataStart + e.begin, dataStart + e.end);
    tensors[e.name] = {
      dtype: tfDtypeOf(e.dtype),
      shape: e.shape,
      values: convertStored(slice, e.dtype, null, `${fileName}: tensor '${e.name}'`),
    };
  }
  return { tensors, metadata: entries.metadata };
}

function headerLength(bytes: Uint8Array, fileName: string): number {
  if (bytes.length < 8)
    throw new Error(
      `${fileName}: not a safetensors file: ${bytes.length} bytes, shorter than the 8-byte header length`,
    );
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getBigUint64(0, true);
  if (length > BigInt(bytes.length - 8)) {
    throw new Error(
      `${fileName}: header length ${length} runs past the end of the file (${bytes.length - 8} bytes after the length field)`,
    );
  }
  if (length > BigInt(MAX_HEADER_BYTES))
    throw new Error(`${fileName}: header length ${length} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  return Number(length);
}

function parseHeader(bytes: Uint8Array, fileName: string): { entries: Entry[]; metadata: Record<string, string> } {
  const length = headerLength(bytes, fileName);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + length)));
  } catch (error) {
    throw new Error(`${fileName}: the header is not valid UTF-8 JSON (${(error as Error).message})`, { cause: error });
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header))
    throw new Error(`${fileName}: the header must be a JSON object`);
  const dataLength = bytes.length - 8 - length;
  const metadata = emptyRecord<string>();
  const entries: Entry[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
        throw new Error(`${fileName}: __metadata__ must be an object of strings`);
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string')
          throw new Error(`${fileName}: __metadata__['${k}'] must be a string, got ${typeof v}`);
        metadata[k] = v;
      }
      continue;
    }
    const where = `${fileName}: tensor '${name}'`;
    if (raw === null || typeof raw !== 'object') throw new Error(`${where}: header entry must be an object`);
    const { dtype, shape, data_offsets: offsets } = raw as { dtype: unknown; shape: unknown; data_offsets: unknown };
    if (!STORED_DTYPES.includes(dtype as StoredDtype))
      throw new Error(
        `${where}: unknown or unsupported dtype ${JSON.stringify(dtype)} (supported: ${STORED_DTYPES.join(', ')})`,
      );
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw new Error(`${where}: shape must be a list of non-negative integers, got ${JSON.stringify(shape)}`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw new Error(
        `${where}: data_offsets must be [begin, end] non-negative integers, got ${JSON.stringify(offsets)}`,
      );
    }
    const [begin, end] = offsets as number[];
    const expectedBytes = (shape as number[]).reduce((a, b) => a * b, 1) * ITEM_SIZE[dtype as StoredDtype];
    if (end < begin || end - begin !== expectedBytes) {
      throw new Error(
        `${where}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but ${dtype} of shape [${shape.join(', ')}] needs ${expectedBytes}`,
      );
    }
    if (end > dataLength)
      throw new Error(`${where}: data_offsets [${begin}, ${end}] run past the end of the data (${dataLength} bytes)`);
    entries.push({ name, dtype: dtype as StoredDtype, shape: shape as number[], begin, end });
  }
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const e of sorted) {
    if (e.begin < cursor)
      throw new Error(
        `${fileName}: tensor '${e.name}' at bytes [${e.begin}, ${e.end}] overlaps the previous tensor, which ends at ${cursor}`,
      );
    if (e.begin > cursor)
      throw new Error(`${fileName}: tensor '${e.name}' starts at byte ${e.begin}, leaving a gap after byte ${cursor}`);
    cursor = e.end;
  }
  if (cursor !== dataLength)
    throw new Error(`${fileName}: the tensors cover ${cursor} bytes of data but the file holds ${dataLength}`);
  return { entries, metadata };
}

/** A tensor to write: a tfjs tensor or already-read TensorData. float32, int32 and bool are stored as F32, I32, BOOL. */
export type Writable = tf.Tensor | TensorData;

/**
 * Serialises tensors (in key order) and string metadata as a safetensors file. Tensor data are read
 * synchronously; the caller keeps ownership of the tensors. `floatDtype: 'F16'` stores float32 tensors as
 * IEEE halves (round to nearest even), half the bytes, for weights shipped in a repository.
 */
export function writeSafetensors(
  tensors: Record<string, Writable>,
  metadata: Record<string, string> = {},
  options: { floatDtype?: 'F32' | 'F16' } = {},
): Uint8Array {
  const floatDtype = assertOneOf('writeSafetensors', 'options.floatDtype', options.floatDtype ?? 'F32', ['F32', 'F16']);
  const header = emptyRecord<unknown>();
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const blocks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    if (name === '__metadata__')
      throw new Error(`writeSafetensors: '__metadata__' is reserved and cannot name a tensor`);
    const { dtype, shape, values } =
      t instanceof tf.Tensor ? { dtype: t.dtype, shape: t.shape, values: t.dataSync() } : t;
    let block: Uint8Array;
    let stored: StoredDtype;
    if (dtype === 'float32' && floatDtype === 'F16') {
      stored = 'F16';
      block = new Uint8Array(Uint16Array.from(values as Float32Array, floatToHalf).buffer);
    } else if (dtype === 'float32') {
      stored = 'F32';
      block = new Uint8Array(Float32Array.from(values as Float32Array).buffer);
    } else if (dtype === 'int32') {
      stored = 'I32';
      block = new Uint8Array(Int32Array.from(values as Int32Array).buffer);
    } else if (dtype === 'bool') {
      stored = 'BOOL';
      block = Uint8Array.from(values as Uint8Array, (v) => (v ? 1 : 0));
    } else {
      throw new Error(
        `writeSafetensors: tensor '${name}' has dtype ${dtype}; only float32, int32 and bool can be stored`,
      );
    }
    header[name] = { dtype: stored, shape, data_offsets: [offset, offset + block.length] };
    blocks.push(block);
    offset += block.length;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  // Pad the header with spaces to a multiple of 8 so the data block is aligned, as the reference writer does.
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const withSpaces = new Uint8Array(padded).fill(0x20);
    withSpaces.set(json);
    json = withSpaces;
  }
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const block of blocks) {
    out.set(block, at);
    at += block.length;
  }
  return out;
}
