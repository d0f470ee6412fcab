/**
 * COCO instance masks: run-length encoding (column-major, runs alternating from zeros, as pycocotools) in its
 * uncompressed (`counts: number[]`) and compressed (`counts: string`, pycocotools' 6-bits-per-char
 * LEB128-like code with differences from the run two back) forms, and polygons.
 */
import { isFiniteNumbers } from '@deformjs/validate';

export interface Rle {
  size: [number, number];
  counts: number[] | string;
}

export type CocoSegmentation = number[][] | Rle;

/** A COCO polygon: a flat list of at least 2 finite x, y pairs (real COCO holds a few degenerate two-point ones). */
export function isPolygon(value: unknown): value is number[] {
  return isFiniteNumbers(value) && value.length >= 4 && value.length % 2 === 0;
}

/** Run lengths of a row-major H x W binary mask, read column-major as COCO does. */
export function maskToRuns(mask: Uint8Array, height: number, width: number): number[] {
  const runs: number[] = [];
  let current = 0;
  let run = 0;
  for (let x = 0; x < width; x++) {
    for (let y = 0; y < height; y++) {
      const v = mask[y * width + x] ? 1 : 0;
      if (v !== current) {
        runs.push(run);
        run = 0;
        current = v;
      }
      run++;
    }
  }
  runs.push(run);
  return runs;
}

/** pycocotools' rleToString. */
export function runsToString(runs: readonly number[]): string {
  let s = '';
  for (let i = 0; i < runs.length; i++) {
    let x = runs[i] - (i > 2 ? runs[i - 2] : 0);
    let more = true;
    while (more) {
      let c = x & 0x1f;
      x >>= 5;
      more = c & 0x10 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      s += String.fromCharCode(c + 48);
    }
  }
  return s;
}

/** pycocotools' rleFrString; calls `fail` on a malformed string. */
export function stringToRuns(s: string, fail: (problem: string) => never): number[] {
  const runs: number[] = [];
  let p = 0;
  while (p < s.length) {
    let x = 0;
    let k = 0;
    let more = true;
    while (more) {
      if (p >= s.length) fail(`truncated RLE string`);
      const c = s.charCodeAt(p) - 48;
      if (c < 0 || c > 63 || k > 5) fail(`bad RLE string at character ${p}`);
      x |= (c & 0x1f) << (5 * k);
      more = (c & 0x20) !== 0;
      p++;
      k++;
      if (!more && c & 0x10) x |= -1 << (5 * k);
    }
    if (runs.length > 2) x += runs[runs.length - 2];
    runs.push(x);
  }
  return runs;
}

/** Row-major H x W mask from column-major runs; the runs must cover the image exactly. */
export function runsToMask(
  runs: readonly number[],
  height: number,
  width: number,
  fail: (problem: string) => never,
): Uint8Array {
  const total = runs.reduce((a, b) => a + b, 0);
  if (runs.some((r) => r < 0 || !Number.isInteger(r)) || total !== height * width) {
    fail(`RLE runs cover ${total} pixels, expected ${height} x ${width} = ${height * width}`);
  }
  const mask = new Uint8Array(height * width);
  let index = 0;
  for (let i = 0; i < runs.length; i++) {
    if (i % 2 === 1) {
      for (let j = index; j < index + runs[i]; j++) mask[(j % height) * width + Math.floor(j / height)] = 1;
    }
    index += runs[i];
  }
  return mask;
}

/**
 * Rasterises polygons (each a flat [x0, y0, x1, y1, ...] list in pixel coordinates) by testing pixel centres
 * with the even-odd rule, the union over polygons. pycocotools rasterises through an upsampled outline
 * instead, so the two can differ on boundary pixels only.
 */
export function polygonsToMask(polygons: readonly (readonly number[])[], height: number, width: number): Uint8Array {
  const mask = new Uint8Array(height * width);
  for (const poly of polygons) {
    const n = poly.length / 2;
    let minY = Infinity;
    let maxY = -Infinity;
    for (let i = 0; i < n; i++) {
      minY = Math.min(minY, poly[2 * i + 1]);
      maxY = Math.max(maxY, poly[2 * i + 1]);
    }
    const y0 = Math.max(0, Math.floor(minY));
    const y1 = Math.min(height - 1, Math.ceil(maxY));
    const crossings: number[] = [];
    for (let y = y0; y <= y1; y++) {
      const cy = y + 0.5;
      crossings.length = 0;
      for (let i = 0, j = n - 1; i < n; j = i++) {
        const xi = poly[2 * i];
        const yi = poly[2 * i + 1];
        const xj = poly[2 * j];
        const yj = poly[2 * j + 1];
        if (yi > cy !== yj > cy) crossings.push(xi + ((cy - yi) / (yj - yi)) * (xj - xi));
      }
      crossings.sort((a, b) => a - b);
      for (let k = 0; k + 1 < crossings.length; k += 2) {
        // Pixel x is inside when its centre x + 0.5 lies in [left, right).
        const start = Math.max(0, Math.ceil(crossings[k] - 0.5));
        const end = Math.min(width - 1, Math.ceil(crossings[k + 1] - 0.5) - 1);
        for (let x = start; x <= end; x++) mask[y * width + x] ^= 1;
      }
    }
  }
  return mask;
}

/** Any COCO segmentation to a row-major mask for an image of the given size. */
export function decodeSegmentation(
  segmentation: CocoSegmentation,
  height: number,
  width: number,
  fail: (problem: string) => never,
): Uint8Array {
  if (Array.isArray(segmentation)) {
    if (!segmentation.every(isPolygon)) fail(`a polygon must be a list of at least 2 finite x, y pairs`);
    return polygonsToMask(segmentation, height, width);
  }
  if (segmentation === null || typeof segmentation !== 'object' || !Array.isArray(segmentation.size)) {
    fail(`segmentation must be polygons or an RLE {size, counts}`);
  }
  const [h, w] = segmentation.size;
  if (h !== height || w !== width) fail(`RLE size [${h}, ${w}] does not match the image [${height}, ${width}]`);
  const runs = typeof segmentation.counts === 'string' ? stringToRuns(segmentation.counts, fail) : segmentation.counts;
  if (!Array.isArray(runs)) fail(`RLE counts must be a list or a string`);
  return runsToMask(runs, height, width, fail);
}
