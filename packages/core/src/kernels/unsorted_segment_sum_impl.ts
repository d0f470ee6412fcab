/**
 * out[s, k] = sum of x[r, k] over the rows r with segmentIds[r] = s. Ids outside [0, numSegments) drop their
 * row, as tfjs's cpu kernel does. `x` is viewed as [segmentIds.length, inner]; `out` as [numSegments, inner] and
 * is fully written.
 */
export function unsortedSegmentSum(
  x: Float32Array | Int32Array,
  segmentIds: Int32Array,
  inner: number,
  numSegments: number,
  out: Float32Array | Int32Array,
): void {
  out.fill(0);
  for (let r = 0; r < segmentIds.length; r++) {
    const s = segmentIds[r];
    if (s < 0 || s >= numSegments) continue;
    const src = r * inner;
    const dst = s * inner;
    for (let k = 0; k < inner; k++) out[dst + k] += x[src + k];
  }
}
