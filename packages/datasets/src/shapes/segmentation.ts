import { writeFileAtomic } from '@deformjs/core/node';
import { join } from 'node:path';
import { cityscapesLabelId } from '../formats/cityscapes';
import { encodeLabelPng, vocPalette } from '../formats/png';
import { el, writeXml } from '../formats/xml';
import {
  generatedImage,
  resolveOptions,
  splitScenes,
  WriteQueue,
  writeImage,
  type GeneratedImage,
  type GenerateOptions,
} from './common';
import { SHAPE_CLASSES } from './raster';
import type { RenderedScene } from './scene';

/** Class names of the shapes segmentation sets: background first, then the shapes (label map indices). */
export const SHAPE_SEGMENTATION_CLASSES = ['background', ...SHAPE_CLASSES] as const;

export interface SegmentationGenerateOptions extends GenerateOptions {
  maxObjects?: number;
  /** Half-width in pixels of the void (255) band on class boundaries; default about size / 128. */
  voidRadius?: number;
}

/** Class map of a scene: 0 background, 1 + shape where a shape is visible. */
export function sceneClassMap(scene: RenderedScene): Uint8Array {
  const shapeOf = new Map(scene.objects.map((o) => [o.index, o.shape + 1]));
  return Uint8Array.from(scene.owner, (k) => (k < 0 ? 0 : shapeOf.get(k)!));
}

/**
 * Marks with `value` every pixel within `radius` (Chebyshev distance) of a boundary between different labels,
 * the way VOC outlines objects with a void band.
 */
export function markBoundaries(
  labels: Uint8Array,
  width: number,
  height: number,
  radius: number,
  value: number,
): Uint8Array {
  const edge = new Uint8Array(labels.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      if ((x + 1 < width && labels[p + 1] !== labels[p]) || (y + 1 < height && labels[p + width] !== labels[p])) {
        edge[p] = 1;
        if (x + 1 < width && labels[p + 1] !== labels[p]) edge[p + 1] = 1;
        if (y + 1 < height && labels[p + width] !== labels[p]) edge[p + width] = 1;
      }
    }
  }
  const horizontal = new Uint8Array(labels.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (!edge[y * width + x]) continue;
      for (let d = Math.max(0, x - radius + 1); d <= Math.min(width - 1, x + radius - 1); d++)
        horizontal[y * width + d] = 1;
    }
  }
  const out = labels.slice();
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (!horizontal[y * width + x]) continue;
      for (let d = Math.max(0, y - radius + 1); d <= Math.min(height - 1, y + radius - 1); d++)
        out[d * width + x] = value;
    }
  }
  return out;
}

export interface VocDatasetFiles {
  root: string;
  classes: readonly string[];
  images: GeneratedImage[];
}

/**
 * Writes the shapes segmentation set in PASCAL VOC 2012 layout: JPEGImages/*.jpg, SegmentationClass/*.png
 * (palette PNGs, the VOC colour map, indices 0..5 and a 255 void band on every class boundary),
 * Annotations/*.xml (boxes), ImageSets/{Segmentation,Main}/{train,val,trainval}.txt.
 */
export async function generateSegmentation(options: SegmentationGenerateOptions): Promise<VocDatasetFiles> {
  const { out, seed, count, valCount, size } = resolveOptions('generateSegmentation', options);
  const { maxObjects = 5, voidRadius = Math.max(1, Math.round(size / 128)) } = options;
  const palette = vocPalette();
  const queue = new WriteQueue();
  const lists: Record<string, string[]> = { train: [], val: [] };
  const images: GeneratedImage[] = [];
  let next = 1;
  for (const { split, scene } of splitScenes(seed, { train: count, val: valCount }, size, maxObjects)) {
    const { width, height } = scene;
    const id = `2026_${String(next++).padStart(6, '0')}`;
    lists[split].push(id);
    images.push(generatedImage(split, id, scene));
    const labels = markBoundaries(sceneClassMap(scene), width, height, voidRadius, 255);
    writeFileAtomic(
      join(out, 'SegmentationClass', `${id}.png`),
      encodeLabelPng({ width, height, data: labels, palette }),
    );
    writeFileAtomic(join(out, 'Annotations', `${id}.xml`), vocAnnotationXml(id, scene));
    await queue.add(writeImage(join(out, 'JPEGImages', `${id}.jpg`), scene, 'jpeg'));
  }
  await queue.drain();
  for (const set of ['Segmentation', 'Main']) {
    for (const [name, ids] of Object.entries({ ...lists, trainval: [...lists.train, ...lists.val] })) {
      writeFileAtomic(join(out, 'ImageSets', set, `${name}.txt`), ids.map((id) => `${id}\n`).join(''));
    }
  }
  return { root: out, classes: SHAPE_SEGMENTATION_CLASSES, images };
}

function vocAnnotationXml(id: string, scene: RenderedScene): string {
  const objects = scene.objects.map((o) => {
    const [x0, y0, x1, y1] = o.box;
    const truncated = x0 === 0 || y0 === 0 || x1 === scene.width || y1 === scene.height ? 1 : 0;
    // VOC boxes are 1-based inclusive pixel indices.
    return el(
      'object',
      el('name', SHAPE_CLASSES[o.shape]),
      el('pose', 'Unspecified'),
      el('truncated', truncated),
      el('difficult', 0),
      el('bndbox', el('xmin', x0 + 1), el('ymin', y0 + 1), el('xmax', x1), el('ymax', y1)),
    );
  });
  return writeXml(
    el(
      'annotation',
      el('folder', 'VOC2012'),
      el('filename', `${id}.jpg`),
      el('source', el('database', 'deformjs shapes world')),
      el('size', el('width', scene.width), el('height', scene.height), el('depth', 3)),
      el('segmented', 1),
      ...objects,
    ),
  );
}

/** Cityscapes labelIds the shapes stand in for: road background, person, car, traffic sign, traffic light, bicycle. */
const CITYSCAPES_TRAIN_ID_OF_SHAPE = [0, 11, 13, 7, 6, 18];
const EGO_VEHICLE_LABEL_ID = 1;

export interface CityscapesDatasetFiles {
  root: string;
  /** Ids are the file stems (<city>_000000_%06d). */
  images: GeneratedImage[];
}

/**
 * Writes a shapes set in Cityscapes layout: leftImg8bit/{train,val}/<city>/<city>_000000_%06d_leftImg8bit.png
 * and gtFine/.../*_gtFine_labelIds.png (8-bit grayscale labelIds: road behind, shapes as person, car,
 * traffic sign, traffic light and bicycle, unlabeled (0) boundary bands, sometimes an ego-vehicle strip at
 * the bottom), so the labelId -> trainId path, ignore labels included, is exercised.
 */
export async function generateCityscapes(options: SegmentationGenerateOptions): Promise<CityscapesDatasetFiles> {
  const { out, seed, count, valCount, size } = resolveOptions('generateCityscapes', options);
  const { maxObjects = 5, voidRadius = Math.max(1, Math.round(size / 128)) } = options;
  const queue = new WriteQueue();
  const labelIdOfClass = CITYSCAPES_TRAIN_ID_OF_SHAPE.map(cityscapesLabelId);
  const images: GeneratedImage[] = [];
  for (const { split, index, rng, scene } of splitScenes(seed, { train: count, val: valCount }, size, maxObjects)) {
    const { width, height } = scene;
    const city = index % 2 === 0 ? 'shapesburg' : 'polygonstadt';
    const stem = `${city}_000000_${String(index).padStart(6, '0')}`;
    images.push(generatedImage(split, stem, scene));
    const classes = markBoundaries(sceneClassMap(scene), width, height, voidRadius, 255);
    const labelIds = classes.map((c) => (c === 255 ? 0 : labelIdOfClass[c]));
    if (rng.next() < 0.5) labelIds.fill(EGO_VEHICLE_LABEL_ID, Math.floor(height * 0.94) * width);
    writeFileAtomic(
      join(out, 'gtFine', split, city, `${stem}_gtFine_labelIds.png`),
      encodeLabelPng({ width, height, data: labelIds }),
    );
    await queue.add(writeImage(join(out, 'leftImg8bit', split, city, `${stem}_leftImg8bit.png`), scene, 'png'));
  }
  await queue.drain();
  return { root: out, images };
}
