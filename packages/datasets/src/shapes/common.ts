import { argumentError, assertInteger, Rng } from '@deformjs/core';
import { writeFileAtomic } from '@deformjs/core/node';
import { maskToRuns, runsToString, type CocoSegmentation } from '../formats/mask';
import { encodeImage } from '../image';
import { sampleScene, type RenderedScene, type VisibleObject } from './scene';

/** Options every generator takes. */
export interface GenerateOptions {
  /** Output folder (created). */
  out: string;
  seed?: number;
  /** Number of training images (videos for 'video'). */
  count?: number;
  /** Number of validation images (videos); defaults to a fifth of `count`, at least 2. */
  valCount?: number;
  /** Longest image side in pixels; the other side is 75-100% of it. */
  size?: number;
}

export interface ResolvedOptions {
  out: string;
  seed: number;
  count: number;
  valCount: number;
  size: number;
}

export function resolveOptions(op: string, options: GenerateOptions): ResolvedOptions {
  const { out, seed = 0, count = 200, size = 256 } = options;
  const valCount = options.valCount ?? Math.max(2, Math.round(count / 5));
  const checks: [string, number, number][] = [
    ['count', count, 1],
    ['valCount', valCount, 0],
    ['size', size, 32],
    ['seed', seed, 0],
  ];
  for (const [name, value, min] of checks) {
    assertInteger(op, name, value, min);
  }
  if (typeof out !== 'string' || out === '') throw argumentError(op, 'out', 'a folder path', out);
  return { out, seed, count, valCount, size };
}

/** Image size for one image: the long side is `size`, the short side 75-100% of it, either orientation. */
export function sampleImageSize(rng: Rng, size: number): { width: number; height: number } {
  const short = Math.round(size * rng.uniform(0.75, 1));
  return rng.next() < 0.5 ? { width: size, height: short } : { width: short, height: size };
}

/** Independent generators for the train and val splits, so val does not change when `count` does. */
export function splitRngs(seed: number): { train: Rng; val: Rng } {
  const root = new Rng(seed);
  return { train: root.fork(), val: root.fork() };
}

/** One image of a generated set: its split, its index there, its own generator (for what else it draws), its scene. */
export interface SplitScene {
  split: 'train' | 'val';
  index: number;
  rng: Rng;
  scene: RenderedScene;
}

/** The scenes of a generated set, train then val, each image drawing from a generator of its own. */
export function* splitScenes(
  seed: number,
  counts: { train: number; val: number },
  size: number,
  maxObjects: number,
): Generator<SplitScene> {
  const rngs = splitRngs(seed);
  for (const split of ['train', 'val'] as const) {
    for (let index = 0; index < counts[split]; index++) {
      const rng = rngs[split].fork();
      const { width, height } = sampleImageSize(rng, size);
      yield { split, index, rng, scene: sampleScene(rng, { width, height, maxObjects }) };
    }
  }
}

/** Runs async writes with a bounded number in flight (sharp encodes on its own threads meanwhile). */
export class WriteQueue {
  private pending: Promise<void>[] = [];

  async add(task: Promise<void>): Promise<void> {
    this.pending.push(task);
    if (this.pending.length >= 6) await this.pending.shift();
  }

  async drain(): Promise<void> {
    await Promise.all(this.pending);
    this.pending = [];
  }
}

export async function writeImage(
  path: string,
  scene: { image: Uint8Array; width: number; height: number },
  format: 'jpeg' | 'png',
): Promise<void> {
  writeFileAtomic(path, await encodeImage({ data: scene.image, width: scene.width, height: scene.height }, format));
}

export function visibleMask(scene: RenderedScene, object: VisibleObject): Uint8Array {
  const mask = new Uint8Array(scene.width * scene.height);
  for (let p = 0; p < mask.length; p++) if (scene.owner[p] === object.index) mask[p] = 1;
  return mask;
}

/**
 * The COCO segmentation of a visible object, in the form real COCO uses for its kind: crowds as uncompressed
 * RLE, whole objects as polygons, and occluded ones (whose visible part is not one polygon) as compressed RLE.
 */
export function cocoSegmentation(scene: RenderedScene, object: VisibleObject): CocoSegmentation {
  const size: [number, number] = [scene.height, scene.width];
  if (object.iscrowd) return { size, counts: maskToRuns(visibleMask(scene, object), scene.height, scene.width) };
  if (object.area === object.fullArea) return object.polygons;
  return { size, counts: runsToString(maskToRuns(visibleMask(scene, object), scene.height, scene.width)) };
}

/** What a generator wrote for one image, for checking loaders against. Boxes are xyxy pixels. */
export interface GeneratedImage {
  split: 'train' | 'val';
  id: number | string;
  width: number;
  height: number;
  boxes: [number, number, number, number][];
  /** Shape class indices (SHAPE_CLASSES). */
  shapes: number[];
  colors: number[];
  iscrowd: number[];
  trackIds?: number[];
}

export function generatedImage(
  split: 'train' | 'val',
  id: number | string,
  scene: RenderedScene,
  objects = scene.objects,
): GeneratedImage {
  return {
    split,
    id,
    width: scene.width,
    height: scene.height,
    boxes: objects.map((o) => o.box),
    shapes: objects.map((o) => o.shape),
    colors: objects.map((o) => o.color),
    iscrowd: objects.map((o) => (o.iscrowd ? 1 : 0)),
  };
}

export function writeJson(path: string, value: unknown): void {
  writeFileAtomic(path, JSON.stringify(value));
}
