/**
 * The constant inputs of generalized attention, computed in float64 and stored as float32: the sinusoidal
 * encodings of relative offsets and the additive spatial-range mask. Plain array code, free of tfjs.
 */

/** The wavelength of the sinusoidal relative-position encoding (mmcv's `wave_length`). */
export const WAVE_LENGTH = 1000;

/**
 * Sinusoidal encodings of the offsets between `queries` query rows (or columns) and `keys` key rows, as
 * mmcv's `get_position_embedding` computes them for one axis: offset = (q * qStride - k * kvStride) * magnitude,
 * frequencies 1 / WAVE_LENGTH^(4i / featDim) for i < featDim / 4, sines then cosines. Returns a row-major
 * [queries, keys, featDim / 2] array.
 */
export function relativePositionEncoding(
  queries: number,
  keys: number,
  qStride: number,
  kvStride: number,
  magnitude: number,
  featDim: number,
): Float32Array {
  const frequencies = featDim / 4;
  const half = featDim / 2;
  const out = new Float32Array(queries * keys * half);
  for (let q = 0; q < queries; q++) {
    for (let k = 0; k < keys; k++) {
      const offset = (q * qStride - k * kvStride) * magnitude;
      const base = (q * keys + k) * half;
      for (let i = 0; i < frequencies; i++) {
        const angle = offset / WAVE_LENGTH ** ((4 / featDim) * i);
        out[base + i] = Math.sin(angle);
        out[base + frequencies + i] = Math.cos(angle);
      }
    }
  }
  return out;
}

/**
 * One axis of mmcv's spatial-range constraint as an additive bias: entry [q, k] is 0 when key index k lies in
 * [max(floor((q - range) / kvStride), 0), floor((q + range + 1) / kvStride) + 1) and -Infinity otherwise.
 * (mmcv indexes the constraint by the query's index on the query grid even when qStride > 1; so do we.) A key is
 * allowed when it is allowed along both axes, so the 2-D mask is the sum of the row and column biases.
 */
export function rangeMaskBias(queries: number, keys: number, range: number, kvStride: number): Float32Array {
  const out = new Float32Array(queries * keys);
  for (let q = 0; q < queries; q++) {
    const lo = Math.max(Math.floor((q - range) / kvStride), 0);
    const hi = Math.floor((q + range + 1) / kvStride) + 1;
    for (let k = 0; k < keys; k++) out[q * keys + k] = k >= lo && k < hi ? 0 : -Infinity;
  }
  return out;
}
