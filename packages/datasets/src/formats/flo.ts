import { argumentError } from '@deformjs/core';
import { formatError } from '../errors';

/**
 * Middlebury `.flo` optical flow files, the format FlowNet, FlyingChairs and Sintel use: the float32 202021.25
 * (bytes "PIEH"), int32 width, int32 height, then width * height (u, v) float32 pairs, row-major, all
 * little-endian. u is the horizontal displacement in pixels, v the vertical one.
 */
const MAGIC = 202021.25;
const HEADER_BYTES = 12;

export interface FlowField {
  width: number;
  height: number;
  /** [H, W, 2] row-major, (u, v) in pixels. */
  flow: Float32Array;
}

export function encodeFlo({ width, height, flow }: FlowField): Uint8Array {
  if (!(Number.isInteger(width) && width > 0 && Number.isInteger(height) && height > 0))
    throw argumentError('encodeFlo', 'width, height', 'positive integers', [width, height]);
  if (flow.length !== width * height * 2)
    throw argumentError('encodeFlo', 'flow', `${width} x ${height} x 2 = ${width * height * 2} floats`, flow.length);
  const out = new Uint8Array(HEADER_BYTES + 4 * flow.length);
  const view = new DataView(out.buffer);
  view.setFloat32(0, MAGIC, true);
  view.setInt32(4, width, true);
  view.setInt32(8, height, true);
  for (let i = 0; i < flow.length; i++) view.setFloat32(HEADER_BYTES + 4 * i, flow[i], true);
  return out;
}

export interface DecodeFloOptions {
  /** The size the frames have: a header that disagrees is refused before anything is allocated. */
  expected?: { width: number; height: number };
  /** The most pixels a header may declare (default 2^26). */
  maxPixels?: number;
}

/**
 * Reads a `.flo` file. The header is checked (magic, positive sizes within `maxPixels`, `expected`) and the file
 * length must be exactly what it declares before the flow is allocated, so memory is bounded by the file and
 * time is linear in it; non-finite values (Middlebury's 1e9 "unknown" marker included) throw naming the pixel.
 */
export function decodeFlo(bytes: Uint8Array, file: string, options: DecodeFloOptions = {}): FlowField {
  const { expected, maxPixels = 2 ** 26 } = options;
  const fail = (problem: string): never => {
    throw formatError(file, 'flo', problem);
  };
  if (bytes.length < HEADER_BYTES) fail(`truncated header: ${bytes.length} bytes, expected at least ${HEADER_BYTES}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getFloat32(0, true);
  if (magic !== MAGIC) fail(`bad magic number ${magic} (expected ${MAGIC}, the bytes "PIEH")`);
  const width = view.getInt32(4, true);
  const height = view.getInt32(8, true);
  if (width <= 0 || height <= 0) fail(`size ${width} x ${height} is not positive`);
  if (width * height > maxPixels) fail(`size ${width} x ${height} exceeds the limit of ${maxPixels} pixels`);
  if (expected && (expected.width !== width || expected.height !== height))
    fail(`size ${width} x ${height} differs from the frame's ${expected.width} x ${expected.height}`);
  const declared = HEADER_BYTES + 8 * width * height;
  if (bytes.length !== declared)
    fail(`${bytes.length} bytes, but a ${width} x ${height} flow takes exactly ${declared} bytes`);
  const flow = new Float32Array(2 * width * height);
  for (let i = 0; i < flow.length; i++) {
    const value = view.getFloat32(HEADER_BYTES + 4 * i, true);
    if (!Number.isFinite(value) || Math.abs(value) >= 1e9) {
      const p = i >> 1;
      fail(`non-finite or unknown flow ${value} at pixel (x ${p % width}, y ${Math.floor(p / width)})`);
    }
    flow[i] = value;
  }
  return { width, height, flow };
}
