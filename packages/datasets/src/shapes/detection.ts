import { join } from 'node:path';
import type { Rng } from '@deformjs/core';
import {
  cocoSegmentation,
  generatedImage,
  resolveOptions,
  sampleImageSize,
  splitRngs,
  WriteQueue,
  writeImage,
  writeJson,
  type GeneratedImage,
  type GenerateOptions,
} from './common';
import { SHAPE_CLASSES } from './raster';
import { sampleScene } from './scene';

export interface DetectionGenerateOptions extends GenerateOptions {
  /** Image encoding; COCO uses JPEG. */
  format?: 'jpeg' | 'png';
  maxObjects?: number;
  /** Chance that an image has a crowd region; default 0.08. */
  crowdProbability?: number;
}

export interface DetectionDatasetFiles {
  root: string;
  train: { annotationFile: string; imageDir: string };
  val: { annotationFile: string; imageDir: string };
  /** What was written, image by image (ids are COCO image ids). */
  images: GeneratedImage[];
}

/** COCO categories of the shapes world: ids 1..5 in SHAPE_CLASSES order. */
export const SHAPE_CATEGORIES = SHAPE_CLASSES.map((name, i) => ({ id: i + 1, name, supercategory: 'shape' }));

/**
 * Writes the shapes detection set in COCO layout: `annotations/instances_{train,val}.json` and images in
 * `train/` and `val/` (named %012d by image id). Objects span small to large, overlap (each keeps at least
 * half of itself visible), get cut by the border, and some images hold a crowd region (iscrowd 1, RLE).
 */
export async function generateDetection(options: DetectionGenerateOptions): Promise<DetectionDatasetFiles> {
  const { out, seed, count, valCount, size } = resolveOptions('generateDetection', options);
  const { format = 'jpeg', maxObjects = 5, crowdProbability = 0.08 } = options;
  const rngs = splitRngs(seed);
  const train = { annotationFile: join(out, 'annotations', 'instances_train.json'), imageDir: join(out, 'train') };
  const val = { annotationFile: join(out, 'annotations', 'instances_val.json'), imageDir: join(out, 'val') };
  const settings = { size, format, maxObjects, crowdProbability };
  const images = [
    ...(await writeSplit('train', rngs.train, count, train, settings)),
    ...(await writeSplit('val', rngs.val, valCount, val, settings)),
  ];
  return { root: out, train, val, images };
}

async function writeSplit(
  splitName: 'train' | 'val',
  rng: Rng,
  count: number,
  split: { annotationFile: string; imageDir: string },
  options: { size: number; format: 'jpeg' | 'png'; maxObjects: number; crowdProbability: number },
): Promise<GeneratedImage[]> {
  const images: object[] = [];
  const generated: GeneratedImage[] = [];
  const annotations: object[] = [];
  const queue = new WriteQueue();
  for (let i = 0; i < count; i++) {
    const imageRng = rng.fork();
    const { width, height } = sampleImageSize(imageRng, options.size);
    const scene = sampleScene(imageRng, {
      width,
      height,
      maxObjects: options.maxObjects,
      crowdProbability: options.crowdProbability,
    });
    const id = i + 1;
    const fileName = `${String(id).padStart(12, '0')}.${options.format === 'jpeg' ? 'jpg' : 'png'}`;
    images.push({ id, file_name: fileName, width, height });
    generated.push(generatedImage(splitName, id, scene));
    for (const object of scene.objects) {
      const [x0, y0, x1, y1] = object.box;
      annotations.push({
        id: annotations.length + 1,
        image_id: id,
        category_id: object.shape + 1,
        bbox: [x0, y0, x1 - x0, y1 - y0],
        area: object.area,
        iscrowd: object.iscrowd ? 1 : 0,
        segmentation: cocoSegmentation(scene, object),
      });
    }
    await queue.add(writeImage(join(split.imageDir, fileName), scene, options.format));
  }
  await queue.drain();
  const info = {
    description: 'deformjs shapes world (synthetic)',
    version: '1.0',
    year: 2026,
    contributor: 'deformjs',
    date_created: '2026-01-01',
  };
  writeJson(split.annotationFile, { info, licenses: [], images, annotations, categories: SHAPE_CATEGORIES });
  return generated;
}
