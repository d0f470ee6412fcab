import { deflateSync, inflateSync } from 'node:zlib';
import { argumentError } from '@deformjs/core';
import { formatError } from '../errors';

/**
 * Label maps are stored as palette (VOC) or 8-bit grayscale (Cityscapes) PNGs whose raw indices are the
 * labels. Image libraries expand palettes to colours on decode, so label PNGs are read and written here,
 * index for index.
 */
export interface LabelPng {
  width: number;
  height: number;
  /** One index per pixel, row-major. */
  data: Uint8Array;
  /** RGB triplets (palette PNGs only). */
  palette?: Uint8Array;
}

const SIGNATURE = Uint8Array.from([137, 80, 78, 71, 13, 10, 26, 10]);

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** One PNG chunk: length, type, data and the CRC over type and data. */
export function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** Encodes an 8-bit palette PNG (when `palette` is given) or an 8-bit grayscale PNG. */
export function encodeLabelPng({ width, height, data, palette }: LabelPng): Uint8Array {
  if (data.length !== width * height)
    throw argumentError('encodeLabelPng', 'data', `${width} x ${height} = ${width * height} indices`, `${data.length}`);
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  header[8] = 8;
  header[9] = palette ? 3 : 0;
  const rows = new Uint8Array(height * (width + 1));
  for (let y = 0; y < height; y++) rows.set(data.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  const parts = [SIGNATURE, pngChunk('IHDR', header)];
  if (palette) parts.push(pngChunk('PLTE', palette));
  parts.push(pngChunk('IDAT', deflateSync(rows)), pngChunk('IEND', new Uint8Array(0)));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

export interface DecodeLabelPngOptions {
  /** The size the annotation gives: a header that disagrees is refused before any pixel is inflated. */
  expected?: { width: number; height: number };
  /** The most pixels a header may declare (default 2^28, sharp's default limit). */
  maxPixels?: number;
}

/**
 * Decodes a palette (bit depth 1, 2, 4 or 8) or 8-bit grayscale PNG to its raw indices. Other colour types,
 * interlacing, bad CRCs and truncation throw naming the file. Memory is bounded by the header: the size is
 * checked (against `expected` and `maxPixels`) before inflating, and inflation stops at the bytes that size
 * needs, so a small file cannot inflate to gigabytes.
 */
export function decodeLabelPng(bytes: Uint8Array, file: string, options: DecodeLabelPngOptions = {}): LabelPng {
  const { expected, maxPixels = 2 ** 28 } = options;
  const fail = (problem: string): never => {
    throw formatError(file, 'PNG', problem);
  };
  if (bytes.length < 8 || SIGNATURE.some((b, i) => bytes[i] !== b)) fail('not a PNG file (bad signature)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 8;
  let width = 0;
  let height = 0;
  let bitDepth = 0;
  let colorType = -1;
  let palette: Uint8Array | undefined;
  const idat: Uint8Array[] = [];
  let ended = false;
  while (offset < bytes.length && !ended) {
    if (offset + 12 > bytes.length) fail(`truncated chunk header at byte ${offset}`);
    const length = view.getUint32(offset);
    const type = String.fromCharCode(...bytes.subarray(offset + 4, offset + 8));
    if (offset + 12 + length > bytes.length) fail(`truncated ${type} chunk at byte ${offset}`);
    const body = bytes.subarray(offset + 8, offset + 8 + length);
    if (crc32(bytes.subarray(offset + 4, offset + 8 + length)) !== view.getUint32(offset + 8 + length))
      fail(`bad CRC in ${type} chunk`);
    if (type === 'IHDR') {
      if (length !== 13) fail(`IHDR chunk of ${length} bytes, expected 13`);
      const h = new DataView(body.buffer, body.byteOffset, body.byteLength);
      width = h.getUint32(0);
      height = h.getUint32(4);
      bitDepth = body[8];
      colorType = body[9];
      if (body[12] !== 0) fail('interlaced label PNGs are not supported');
      if (expected && (width !== expected.width || height !== expected.height))
        fail(`header declares ${width}x${height}, the annotation ${expected.width}x${expected.height}`);
      if (width * height > maxPixels) fail(`header declares ${width}x${height}, more than ${maxPixels} pixels`);
    } else if (type === 'PLTE') palette = body.slice();
    else if (type === 'IDAT') idat.push(body);
    else if (type === 'IEND') ended = true;
    offset += 12 + length;
  }
  if (!ended) fail('truncated: no IEND chunk');
  if (width === 0 || height === 0) fail('missing or empty IHDR');
  if (colorType === 0 && bitDepth !== 8) fail(`grayscale label PNGs must be 8-bit, got bit depth ${bitDepth}`);
  if (colorType === 3 && ![1, 2, 4, 8].includes(bitDepth)) fail(`bad palette bit depth ${bitDepth}`);
  if (colorType !== 0 && colorType !== 3)
    fail(`a label PNG must be palette (colour type 3) or grayscale (0), got colour type ${colorType}`);
  if (colorType === 3 && !palette) fail('palette PNG without a PLTE chunk');
  const stride = Math.ceil((width * bitDepth) / 8);
  const declared = height * (stride + 1);
  let raw: Uint8Array;
  try {
    raw = inflateSync(Buffer.concat(idat), { maxOutputLength: declared });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE')
      return fail(`image data inflates past the ${declared} bytes its ${width}x${height} header declares`);
    return fail(`corrupt image data (${(error as Error).message})`);
  }
  if (raw.length < declared) fail(`image data holds ${raw.length} bytes, expected ${declared}`);
  const rows = unfilter(raw, height, stride, fail);
  const data = new Uint8Array(width * height);
  if (bitDepth === 8) {
    for (let y = 0; y < height; y++) data.set(rows.subarray(y * stride, y * stride + width), y * width);
  } else {
    const perByte = 8 / bitDepth;
    const mask = (1 << bitDepth) - 1;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const byte = rows[y * stride + Math.floor(x / perByte)];
        data[y * width + x] = (byte >> (8 - bitDepth * ((x % perByte) + 1))) & mask;
      }
    }
  }
  return palette ? { width, height, data, palette } : { width, height, data };
}

function unfilter(raw: Uint8Array, height: number, stride: number, fail: (p: string) => never): Uint8Array {
  const out = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const src = y * (stride + 1) + 1;
    const row = y * stride;
    const prev = row - stride;
    for (let x = 0; x < stride; x++) {
      const v = raw[src + x];
      const a = x > 0 ? out[row + x - 1] : 0;
      const b = y > 0 ? out[prev + x] : 0;
      const c = x > 0 && y > 0 ? out[prev + x - 1] : 0;
      let predicted: number;
      switch (filter) {
        case 0:
          predicted = 0;
          break;
        case 1:
          predicted = a;
          break;
        case 2:
          predicted = b;
          break;
        case 3:
          predicted = (a + b) >> 1;
          break;
        case 4: {
          const p = a + b - c;
          const pa = Math.abs(p - a);
          const pb = Math.abs(p - b);
          const pc = Math.abs(p - c);
          predicted = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default:
          return fail(`bad filter type ${filter} on row ${y}`);
      }
      out[row + x] = (v + predicted) & 0xff;
    }
  }
  return out;
}

/** The PASCAL VOC colour map (index i -> RGB from the bits of i), 256 entries. */
export function vocPalette(): Uint8Array {
  const palette = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    let c = i;
    let r = 0;
    let g = 0;
    let b = 0;
    for (let j = 0; j < 8; j++) {
      r |= ((c >> 0) & 1) << (7 - j);
      g |= ((c >> 1) & 1) << (7 - j);
      b |= ((c >> 2) & 1) << (7 - j);
      c >>= 3;
    }
    palette.set([r, g, b], i * 3);
  }
  return palette;
}
