import type { Rng } from '@deformjs/core';
import { polygonsToMask } from '../formats/mask';
import {
  BACKGROUND_TONES,
  clipPolygon,
  paintBackground,
  paintPolygon,
  sampleStyle,
  SHAPE_CLASSES,
  SHAPE_COLORS,
  shapePolygon,
  type PaintStyle,
  type ShapePose,
} from './raster';

/** One annotated thing in a scene: a shape, or (iscrowd) a cluster of tiny shapes of one class. */
export interface SceneObject {
  shape: number;
  color: number;
  iscrowd: boolean;
  /** Polygons clipped to the image (a crowd has many). */
  polygons: number[][];
  /** The pose, for single shapes. */
  pose?: ShapePose;
  /** How it is painted; drawn afresh at each render when absent (a video's tracks keep theirs). */
  style?: PaintStyle;
}

/** An object as it ends up in the picture, after occlusion by the ones painted over it. */
export interface VisibleObject extends SceneObject {
  /** Index in the scene's painting order; `owner` holds it where the object is visible. */
  index: number;
  /** Visible pixels. */
  area: number;
  /** Pixels inside the image before occlusion. */
  fullArea: number;
  /** Tight xyxy box around the visible pixels (pixel edges). */
  box: [number, number, number, number];
}

export interface RenderedScene {
  width: number;
  height: number;
  /** HWC RGB. */
  image: Uint8Array;
  tone: number;
  /** Per pixel, the index of the object visible there, or -1. */
  owner: Int16Array;
  /** Objects with at least one visible pixel, in painting order. */
  objects: VisibleObject[];
}

export interface SceneOptions {
  width: number;
  height: number;
  minObjects?: number;
  maxObjects?: number;
  /** Chance of a crowd region (a cluster of tiny shapes annotated once with iscrowd). */
  crowdProbability?: number;
  /** Circumradius range in pixels; defaults scale with the image (3% to 28% of its short side). */
  minRadius?: number;
  maxRadius?: number;
}

/** Owner map of objects painted in order: later objects cover earlier ones. */
export function ownerMap(objects: readonly SceneObject[], width: number, height: number): Int16Array {
  const owner = new Int16Array(width * height).fill(-1);
  objects.forEach((object, k) => {
    const mask = polygonsToMask(object.polygons, height, width);
    for (let p = 0; p < mask.length; p++) if (mask[p]) owner[p] = k;
  });
  return owner;
}

/** Paints the objects over a copy of `background` and measures what stays visible of each. */
export function renderScene(
  rng: Rng,
  width: number,
  height: number,
  background: { image: Uint8Array; tone: number },
  objects: readonly SceneObject[],
): RenderedScene {
  const { tone } = background;
  const image = background.image.slice();
  for (const object of objects) {
    const style = object.style ?? sampleStyle(rng, SHAPE_COLORS[object.color].rgb);
    for (const polygon of object.polygons) paintPolygon(rng, image, width, height, polygon, style);
  }
  const owner = ownerMap(objects, width, height);
  const fullAreas = objects.map((o) => countMask(polygonsToMask(o.polygons, height, width)));
  const boxes = objects.map((): [number, number, number, number] => [Infinity, Infinity, -Infinity, -Infinity]);
  const areas = new Array<number>(objects.length).fill(0);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const k = owner[y * width + x];
      if (k < 0) continue;
      areas[k]++;
      const b = boxes[k];
      if (x < b[0]) b[0] = x;
      if (y < b[1]) b[1] = y;
      if (x + 1 > b[2]) b[2] = x + 1;
      if (y + 1 > b[3]) b[3] = y + 1;
    }
  }
  const visible = objects
    .map((o, index) => ({ ...o, index, area: areas[index], fullArea: fullAreas[index], box: boxes[index] }))
    .filter((o) => o.area > 0);
  return { width, height, image, tone, owner, objects: visible };
}

function countMask(mask: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < mask.length; i++) n += mask[i];
  return n;
}

function polygonArea(poly: readonly number[]): number {
  let a = 0;
  for (let i = 0, j = poly.length - 2; i < poly.length; j = i, i += 2)
    a += poly[j] * poly[i + 1] - poly[i] * poly[j + 1];
  return Math.abs(a) / 2;
}

/**
 * Samples a still scene: 1..maxObjects shapes of random class, colour, size (log-uniform, small to large),
 * rotation and position, allowed to overlap and to be cut by the border, but each keeping at least half of
 * its pixels visible and 16 pixels in all; sometimes a crowd region behind them.
 */
export function sampleScene(rng: Rng, options: SceneOptions): RenderedScene {
  const { width, height, minObjects = 1, maxObjects = 5, crowdProbability = 0 } = options;
  const short = Math.min(width, height);
  const minRadius = options.minRadius ?? Math.max(5, 0.03 * short);
  const maxRadius = options.maxRadius ?? 0.28 * short;
  const tone = rng.int(BACKGROUND_TONES.length);
  const objects: SceneObject[] = [];
  const owner = new Int16Array(width * height).fill(-1);
  const visibleCount: number[] = [];
  const fullCount: number[] = [];

  const tryPlace = (object: SceneObject, unclippedArea: number): boolean => {
    const mask = polygonsToMask(object.polygons, height, width);
    const inside = countMask(mask);
    if (inside < 16 || inside < 0.6 * unclippedArea) return false;
    const covered = new Array<number>(objects.length).fill(0);
    for (let p = 0; p < mask.length; p++) if (mask[p] && owner[p] >= 0) covered[owner[p]]++;
    const ok = covered.every((c, j) => visibleCount[j] - c >= Math.max(16, 0.5 * fullCount[j]));
    if (!ok) return false;
    for (let p = 0; p < mask.length; p++) if (mask[p]) owner[p] = objects.length;
    covered.forEach((c, j) => (visibleCount[j] -= c));
    objects.push(object);
    visibleCount.push(inside);
    fullCount.push(inside);
    return true;
  };

  if (rng.next() < crowdProbability) {
    const shape = rng.int(SHAPE_CLASSES.length);
    const color = rng.int(SHAPE_COLORS.length);
    const rw = rng.uniform(0.2, 0.35) * width;
    const rh = rng.uniform(0.2, 0.35) * height;
    const rx = rng.uniform(0, width - rw);
    const ry = rng.uniform(0, height - rh);
    const polygons: number[][] = [];
    const n = 10 + rng.int(16);
    const tiny = Math.max(2.5, 0.015 * short);
    for (let i = 0; i < n; i++) {
      const pose = {
        shape,
        cx: rng.uniform(rx, rx + rw),
        cy: rng.uniform(ry, ry + rh),
        radius: rng.uniform(tiny, 2 * tiny),
        angle: rng.uniform(0, 2 * Math.PI),
      };
      const polygon = clipPolygon(shapePolygon(pose), width, height);
      if (polygon.length >= 6) polygons.push(polygon);
    }
    if (polygons.length > 0) tryPlace({ shape, color, iscrowd: true, polygons }, 0);
  }
  const target = minObjects + rng.int(maxObjects - minObjects + 1);
  for (let attempts = 0; objects.filter((o) => !o.iscrowd).length < target && attempts < 40; attempts++) {
    const radius = Math.exp(rng.uniform(Math.log(minRadius), Math.log(maxRadius)));
    const pose: ShapePose = {
      shape: rng.int(SHAPE_CLASSES.length),
      cx: rng.uniform(0, width),
      cy: rng.uniform(0, height),
      radius,
      angle: rng.uniform(0, 2 * Math.PI),
    };
    const full = shapePolygon(pose);
    const polygon = clipPolygon(full, width, height);
    if (polygon.length < 6) continue;
    tryPlace(
      { shape: pose.shape, color: rng.int(SHAPE_COLORS.length), iscrowd: false, polygons: [polygon], pose },
      polygonArea(full),
    );
  }
  return renderScene(
    rng,
    width,
    height,
    { image: paintBackground(rng, width, height, BACKGROUND_TONES[tone].rgb), tone },
    objects,
  );
}
