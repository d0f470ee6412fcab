import { readdirSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { createProgress, writeFileAtomic } from '@deformjs/core/node';
import { decodeImage, drawBoxes, encodeImage } from '@deformjs/datasets';
import { toCocoResults } from '@deformjs/deformable-detr';
import { RunFolder } from '@deformjs/weights/node';
import type { CheckpointConfig } from './checkpoint';
import { detectImage } from './inference';
import type { Detector } from './detector';

const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png'];
export const RESULTS = 'results.json';
export const IMAGES = 'images.json';

/** The files `detect` writes in its `--out` (replaced on a new run; anything else there is left alone). */
export function ownedByDetect(name: string): boolean {
  return name === RESULTS || name === IMAGES || /^detections-.+\.png$/.test(name);
}

/**
 * Runs a trained detector on every JPEG/PNG in `imagesDir` (any size: each is brought to the training scale,
 * boxes come back in its own pixels). Writes `results.json` (COCO results: image_id, category_id, bbox
 * [x, y, w, h], score), `images.json` (the image ids' files and sizes, the categories) and, for the first
 * `drawCount` images, `detections-<name>.png`, all atomically, into `out`.
 */
export async function detectImages(
  detector: Detector,
  saved: CheckpointConfig,
  imagesDir: string,
  out: string,
  drawCount: number,
): Promise<{ images: number; detections: number }> {
  if (!statSync(imagesDir, { throwIfNoEntry: false })?.isDirectory())
    throw new Error(`--images ${imagesDir} is not a folder`);
  if (resolve(out) === resolve(imagesDir))
    throw new Error(`--out must differ from --images (${imagesDir}): detect never writes among your images`);
  const files = readdirSync(imagesDir)
    .filter((name) => IMAGE_EXTENSIONS.includes(extname(name).toLowerCase()))
    .sort();
  if (files.length === 0) throw new Error(`${imagesDir} holds no JPEG or PNG images`);
  const folder = RunFolder.open(out, { program: 'detect', owns: ownedByDetect, fresh: true });
  try {
    detector.model.eval();
    const results: ReturnType<typeof toCocoResults> = [];
    const images: { id: number; file_name: string; width: number; height: number }[] = [];
    const progress = createProgress({ total: files.length, label: 'detect' });
    for (const [i, file] of files.entries()) {
      const id = i + 1;
      const image = await decodeImage(join(imagesDir, file), file);
      const detections = detectImage(detector, saved, image, id);
      results.push(...toCocoResults(detections, id, saved.categoryIds));
      images.push({ id, file_name: file, width: image.width, height: image.height });
      if (i < drawCount) {
        drawBoxes(image, detections);
        writeFileAtomic(folder.path(`detections-${file}.png`), await encodeImage(image, 'png'));
      }
      progress.update(i + 1, { boxes: results.length });
    }
    progress.done();
    writeFileAtomic(folder.path(RESULTS), JSON.stringify(results) + '\n');
    const categories = saved.categoryIds.map((id, label) => ({ id, name: saved.classes[label] }));
    writeFileAtomic(folder.path(IMAGES), JSON.stringify({ images, categories }, null, 1) + '\n');
    return { images: files.length, detections: results.length };
  } finally {
    folder.release();
  }
}
