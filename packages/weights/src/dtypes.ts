/**
 * Storage dtypes as they appear in files, and the one conversion rule to tfjs dtypes:
 * - F32 as is; F16, BF16 exactly widened to float32; F64 rounded to the nearest float32 (magnitudes beyond
 *   float32's range become +-Infinity, as a cast does).
 * - I32 as is; I16, I8, U8 widened to int32; I64 narrowed to int32 when every value fits in
 *   [-2^31, 2^31 - 1], otherwise refused (no silent wrap-around).
 * - BOOL to tfjs bool (one byte per value, 0 or 1).
 */
export type StoredDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export const STORED_DTYPES: readonly StoredDtype[] = [
  'F64',
  'F32',
  'F16',
  'BF16',
  'I64',
  'I32',
  'I16',
  'I8',
  'U8',
  'BOOL',
];

export const ITEM_SIZE: Record<StoredDtype, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

export function tfDtypeOf(dtype: StoredDtype): 'float32' | 'int32' | 'bool' {
  if (dtype === 'BOOL') return 'bool';
  return dtype.startsWith('F') || dtype === 'BF16' ? 'float32' : 'int32';
}

/**
 * Reads little-endian elements of `dtype` from `bytes` and converts them: the elements at the positions in
 * `indices` (a strided view's element offsets), or all `bytes.length / itemsize` in order when `indices` is
 * null. `describe` names the file and tensor in errors.
 */
export function convertStored(
  bytes: Uint8Array,
  dtype: StoredDtype,
  indices: ArrayLike<number> | null,
  describe: string,
): Float32Array | Int32Array | Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (indices === null) {
    // The common case, a contiguous little-endian float32/int32 block: one copy.
    if (dtype === 'F32') return new Float32Array(bytes.slice().buffer);
    if (dtype === 'I32') return new Int32Array(bytes.slice().buffer);
    indices = contiguousIndices(bytes.length / ITEM_SIZE[dtype]);
  }
  const n = indices.length;
  switch (dtype) {
    case 'F32': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(indices[i] * 4, true);
      return out;
    }
    case 'F64': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(indices[i] * 8, true);
      return out;
    }
    case 'F16': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(indices[i] * 2, true));
      return out;
    }
    case 'BF16': {
      const out = new Float32Array(n);
      const word = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) word[i] = view.getUint16(indices[i] * 2, true) << 16;
      return out;
    }
    case 'I32': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getInt32(indices[i] * 4, true);
      return out;
    }
    case 'I64': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const low = view.getUint32(indices[i] * 8, true);
        const high = view.getInt32(indices[i] * 8 + 4, true);
        // Fits in int32 exactly when the high word is the sign extension of the low word.
        if ((high !== 0 || low > 0x7fffffff) && (high !== -1 || low < 0x80000000)) {
          throw new Error(
            `${describe}: int64 value ${view.getBigInt64(indices[i] * 8, true)} at element ${i} does not fit in int32; tfjs has no int64`,
          );
        }
        out[i] = low | 0;
      }
      return out;
    }
    case 'I16': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getInt16(indices[i] * 2, true);
      return out;
    }
    case 'I8': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getInt8(indices[i]);
      return out;
    }
    case 'U8': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = bytes[indices[i]];
      return out;
    }
    case 'BOOL': {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = bytes[indices[i]] !== 0 ? 1 : 0;
      return out;
    }
  }
}

/** The nearest IEEE half (round half to even; beyond the largest half: infinity), as its 16 bits. */
export function floatToHalf(value: number): number {
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  const abs = Math.abs(value);
  if (Number.isNaN(value)) return 0x7e00;
  const roundEven = (x: number) => {
    const r = Math.round(x);
    return r - x === 0.5 && r % 2 === 1 ? r - 1 : r;
  };
  if (abs < 2 ** -14) return sign | roundEven(abs * 2 ** 24); // subnormal (1024 rounds up to the smallest normal)
  let exponent = Math.floor(Math.log2(abs));
  if (2 ** exponent > abs) exponent -= 1;
  if (2 ** (exponent + 1) <= abs) exponent += 1;
  let fraction = roundEven((abs / 2 ** exponent - 1) * 1024);
  if (fraction === 1024) {
    fraction = 0;
    exponent += 1;
  }
  if (exponent > 15) return sign | 0x7c00;
  return sign | ((exponent + 15) << 10) | fraction;
}

export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 31) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** 0, 1, ..., n-1: the element positions of a contiguous tensor. */
function contiguousIndices(n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  return out;
}
