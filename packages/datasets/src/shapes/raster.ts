import type { Rng } from '@deformjs/core';
import { polygonsToMask } from '../formats/mask';

/** The shape classes of the shapes world, in label order. */
export const SHAPE_CLASSES = ['circle', 'square', 'triangle', 'star', 'cross'] as const;
export type ShapeClass = (typeof SHAPE_CLASSES)[number];

/** Named, saturated colours (backgrounds are desaturated mid-tones, so every colour stands out). */
export const SHAPE_COLORS = [
  { name: 'red', rgb: [215, 45, 45] },
  { name: 'green', rgb: [45, 160, 70] },
  { name: 'blue', rgb: [50, 90, 215] },
  { name: 'yellow', rgb: [230, 200, 45] },
  { name: 'purple', rgb: [145, 70, 185] },
  { name: 'orange', rgb: [240, 135, 35] },
  { name: 'cyan', rgb: [45, 195, 205] },
  { name: 'pink', rgb: [235, 115, 180] },
] as const;

export const BACKGROUND_TONES = [
  { name: 'grey', rgb: [128, 128, 128] },
  { name: 'beige', rgb: [172, 160, 132] },
  { name: 'slate', rgb: [102, 114, 128] },
  { name: 'olive', rgb: [118, 122, 96] },
] as const;

/** A shape placed in an image: centre, circumradius and rotation in pixels and radians. */
export interface ShapePose {
  shape: number;
  cx: number;
  cy: number;
  radius: number;
  angle: number;
}

/** Outline of a shape class in unit coordinates (circumradius 1), counter-clockwise. */
function unitOutline(shape: ShapeClass): [number, number][] {
  const ring = (n: number, r: (k: number) => number, phase: number) =>
    Array.from({ length: n }, (_, k): [number, number] => [
      r(k) * Math.cos(phase + (2 * Math.PI * k) / n),
      r(k) * Math.sin(phase + (2 * Math.PI * k) / n),
    ]);
  switch (shape) {
    case 'circle':
      return ring(48, () => 1, 0);
    case 'square':
      return ring(4, () => 1, Math.PI / 4);
    case 'triangle':
      return ring(3, () => 1, -Math.PI / 2);
    case 'star':
      return ring(10, (k) => (k % 2 === 0 ? 1 : 0.45), -Math.PI / 2);
    case 'cross': {
      const a = 0.32;
      const b = 0.95;
      return [
        [a, -b],
        [a, -a],
        [b, -a],
        [b, a],
        [a, a],
        [a, b],
        [-a, b],
        [-a, a],
        [-b, a],
        [-b, -a],
        [-a, -a],
        [-a, -b],
      ];
    }
  }
}

const OUTLINES = SHAPE_CLASSES.map(unitOutline);

/** The shape's outline in image pixels as a flat [x0, y0, x1, y1, ...] list, rounded to 0.01 px. */
export function shapePolygon(pose: ShapePose): number[] {
  const c = Math.cos(pose.angle);
  const s = Math.sin(pose.angle);
  return OUTLINES[pose.shape].flatMap(([u, v]) => [
    Math.round((pose.cx + pose.radius * (u * c - v * s)) * 100) / 100,
    Math.round((pose.cy + pose.radius * (u * s + v * c)) * 100) / 100,
  ]);
}

/**
 * Clips a polygon to the image rectangle (Sutherland-Hodgman, one edge at a time). Pixel centres inside
 * the image are inside the clipped polygon exactly when they were inside the original, so masks agree.
 */
export function clipPolygon(poly: readonly number[], width: number, height: number): number[] {
  let points: [number, number][] = [];
  for (let i = 0; i < poly.length; i += 2) points.push([poly[i], poly[i + 1]]);
  const edges: [(p: [number, number]) => number, number][] = [
    [(p) => p[0], 0],
    [(p) => -p[0], -width],
    [(p) => p[1], 0],
    [(p) => -p[1], -height],
  ];
  for (const [coordinate, limit] of edges) {
    const out: [number, number][] = [];
    for (let i = 0; i < points.length; i++) {
      const a = points[i];
      const b = points[(i + 1) % points.length];
      const da = coordinate(a) - limit;
      const db = coordinate(b) - limit;
      if (da >= 0) out.push(a);
      if (da >= 0 !== db >= 0) {
        const t = da / (da - db);
        out.push([a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])]);
      }
    }
    points = out;
    if (points.length === 0) return [];
  }
  return points.flatMap(([x, y]) => [Math.round(x * 100) / 100, Math.round(y * 100) / 100]);
}

/** Mildly textured background: a tone, a gradient, low-frequency noise, optional faint stripes, grain. */
export function paintBackground(rng: Rng, width: number, height: number, tone: readonly number[]): Uint8Array {
  const image = new Uint8Array(width * height * 3);
  // Writes through a clamped view round and saturate natively.
  const out = new Uint8ClampedArray(image.buffer);
  // Mostly a brightness ramp with a slight tint, so backgrounds stay desaturated.
  const brightness = rng.uniform(-20, 20);
  const gradient = [0, 1, 2].map(() => brightness + rng.uniform(-6, 6));
  const direction = rng.uniform(0, 2 * Math.PI);
  const grid = 6;
  const noise = rng.uniformArray((grid + 1) * (grid + 1), -18, 18);
  const stripes = rng.next() < 0.5 ? 6 : 0;
  const period = rng.uniform(8, 20);
  const stripeAngle = rng.uniform(0, Math.PI);
  const grainSeed = rng.nextUint32();
  // Everything separable is tabulated per column and per row: the ramp, the noise cell and weight, and the
  // stripes through sin(a + b) = sin a cos b + cos a sin b.
  const colRamp = new Float64Array(width);
  const colCell = new Int32Array(width);
  const colT = new Float64Array(width);
  const colSin = new Float64Array(width);
  const colCos = new Float64Array(width);
  for (let x = 0; x < width; x++) {
    const f = (x / width) * grid;
    colCell[x] = Math.min(grid - 1, Math.floor(f));
    colT[x] = f - colCell[x];
    colRamp[x] = (2 * x * Math.cos(direction)) / width;
    const a = (2 * Math.PI * x * Math.cos(stripeAngle)) / period;
    colSin[x] = Math.sin(a);
    colCos[x] = Math.cos(a);
  }
  for (let y = 0; y < height; y++) {
    const f = (y / height) * grid;
    const iy = Math.min(grid - 1, Math.floor(f));
    const ty = f - iy;
    const rowRamp = (2 * y * Math.sin(direction)) / height - 1;
    const b = (2 * Math.PI * y * Math.sin(stripeAngle)) / period;
    const sinB = Math.sin(b);
    const cosB = Math.cos(b);
    const topRow = iy * (grid + 1);
    const bottomRow = topRow + grid + 1;
    for (let x = 0; x < width; x++) {
      const c = colCell[x];
      const t = colT[x];
      const top = noise[topRow + c] * (1 - t) + noise[topRow + c + 1] * t;
      const bottom = noise[bottomRow + c] * (1 - t) + noise[bottomRow + c + 1] * t;
      const ramp = colRamp[x] + rowRamp;
      const texture =
        top * (1 - ty) + bottom * ty + stripes * (colSin[x] * cosB + colCos[x] * sinB) + grain(grainSeed, x, y);
      const o = (y * width + x) * 3;
      out[o] = tone[0] + gradient[0] * ramp + texture;
      out[o + 1] = tone[1] + gradient[1] * ramp + texture;
      out[o + 2] = tone[2] + gradient[2] * ramp + texture;
    }
  }
  return image;
}

/** Film grain in [-5, 5) from a hash of the pixel position, cheaper than drawing from the generator. */
function grain(seed: number, x: number, y: number): number {
  let h = Math.imul(seed ^ Math.imul(x, 0x27d4eb2d) ^ Math.imul(y, 0x165667b1), 0x9e3779b1);
  h ^= h >>> 15;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return ((h >>> 0) / 4294967296) * 10 - 5;
}

export interface PaintStyle {
  /** The object's colour, jittered from its named colour. */
  color: number[];
  /** Strength and direction of the linear shading. */
  shade: number;
  direction: number;
}

export function sampleStyle(rng: Rng, rgb: readonly number[]): PaintStyle {
  return {
    color: rgb.map((v) => v + rng.uniform(-12, 12)),
    shade: rng.uniform(0.08, 0.16),
    direction: rng.uniform(0, 2 * Math.PI),
  };
}

export function paintPolygon(
  rng: Rng,
  image: Uint8Array,
  width: number,
  height: number,
  poly: readonly number[],
  style: PaintStyle,
): void {
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (let i = 0; i < poly.length; i += 2) {
    minX = Math.min(minX, poly[i]);
    maxX = Math.max(maxX, poly[i]);
    minY = Math.min(minY, poly[i + 1]);
    maxY = Math.max(maxY, poly[i + 1]);
  }
  const x0 = Math.max(0, Math.floor(minX));
  const y0 = Math.max(0, Math.floor(minY));
  const x1 = Math.min(width, Math.ceil(maxX));
  const y1 = Math.min(height, Math.ceil(maxY));
  if (x1 <= x0 || y1 <= y0) return;
  const w = x1 - x0;
  const h = y1 - y0;
  const local = poly.map((v, i) => 2 * (v - (i % 2 === 0 ? x0 : y0)));
  const fine = polygonsToMask([local], 2 * h, 2 * w);
  const { color, shade, direction } = style;
  const out = new Uint8ClampedArray(image.buffer, image.byteOffset, image.length);
  const dx = Math.cos(direction) / Math.max(1, w);
  const dy = Math.sin(direction) / Math.max(1, h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const f = 2 * y * 2 * w + 2 * x;
      const coverage = (fine[f] + fine[f + 1] + fine[f + 2 * w] + fine[f + 2 * w + 1]) / 4;
      if (coverage === 0) continue;
      const light = 1 + shade * ((x * dx + y * dy) * 2 - 1);
      const grain = rng.uniform(-8, 8);
      const o = ((y0 + y) * width + x0 + x) * 3;
      for (let c = 0; c < 3; c++) out[o + c] = image[o + c] * (1 - coverage) + (color[c] * light + grain) * coverage;
    }
  }
}

/**
 * Defocus: every pixel becomes the mean of the disk of `radius` pixels around it (a lens's circle of confusion).
 * Pixels on the rim count by how much of them the disk covers, so the blur grows smoothly with the radius (below
 * half a pixel it is the identity); outside the image the border pixels repeat.
 */
export function diskBlur(image: Uint8Array, width: number, height: number, radius: number): Uint8Array {
  const reach = Math.ceil(radius + 0.5);
  const taps: [number, number, number][] = [];
  let total = 0;
  for (let dy = -reach; dy <= reach; dy++)
    for (let dx = -reach; dx <= reach; dx++) {
      const weight = Math.min(1, Math.max(0, radius + 0.5 - Math.hypot(dx, dy)));
      if (weight > 0) {
        taps.push([dx, dy, weight]);
        total += weight;
      }
    }
  const out = new Uint8Array(image.length);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (const [dx, dy, weight] of taps) {
        const i = 3 * (Math.min(height - 1, Math.max(0, y + dy)) * width + Math.min(width - 1, Math.max(0, x + dx)));
        r += weight * image[i];
        g += weight * image[i + 1];
        b += weight * image[i + 2];
      }
      const o = 3 * (y * width + x);
      out[o] = Math.round(r / total);
      out[o + 1] = Math.round(g / total);
      out[o + 2] = Math.round(b / total);
    }
  return out;
}
