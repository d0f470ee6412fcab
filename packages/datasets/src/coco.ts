import { join } from 'node:path';
import { assertOneOf } from '@deformjs/core';
import { checkBox } from './boxes';
import { formatError } from './errors';
import { arrayField, pathInside, readJson, RecordReader, requireFile } from './files';
import { isPolygon, type CocoSegmentation } from './formats/mask';
import { loadSample, type LoadSampleOptions } from './sample';
import type { ImageRecord, Sample } from './types';

export interface CocoCategory {
  id: number;
  name: string;
  supercategory: string;
}

export interface CocoLoadOptions {
  /** The instances JSON (images, annotations, categories). */
  annotationFile: string;
  /** Folder holding the images' `file_name`s. */
  imageDir: string;
  /**
   * Crowd regions (`iscrowd` 1) are kept with their flag by default (evaluation needs them); DETR's training
   * set drops them: pass 'drop'.
   */
  crowd?: 'keep' | 'drop';
}

/** A loaded image dataset: records without pixels, and `get` to decode one. */
export interface ImageDataset {
  /** Class names; a record's `labels` index this list. */
  classes: string[];
  records: ImageRecord[];
  get(index: number, options?: LoadSampleOptions): Promise<Sample>;
}

export interface CocoDataset extends ImageDataset {
  /** Categories in label order: label i is `categories[i]`, whose COCO id is `categories[i].id`. */
  categories: CocoCategory[];
  /** Annotations with a zero width or height, left out of the records (as DETR drops them), with the reason. */
  dropped: { annotationId: number | string; imageId: number | string; reason: string }[];
}

/**
 * Loads a COCO detection set: every image (sorted by id, as torchvision's CocoDetection) with its boxes
 * (COCO [x, y, w, h] turned into xyxy), contiguous labels (categories sorted by id), `iscrowd`, `area` and
 * the raw segmentations (decoded to masks by `get(i, { masks: true })`). Every reference is checked: a
 * missing image file, an unknown image or category id, a box outside its image, duplicate ids or malformed
 * fields throw naming the file and the record.
 */
export function loadCoco({ annotationFile, imageDir, crowd = 'keep' }: CocoLoadOptions): CocoDataset {
  assertOneOf('loadCoco', 'crowd', crowd, ['keep', 'drop']);
  const json = readJson(annotationFile);
  const file = annotationFile;
  const { categories, labelOf } = readCategories(json, file);
  const images = readImages(json, file, imageDir);
  const dropped = readAnnotations(json, file, images, categories, labelOf, crowd);
  const records = [...images.values()]
    .map((p) => {
      const record = {
        ...p.record,
        boxes: Float32Array.from(p.boxes),
        labels: Int32Array.from(p.labels),
        iscrowd: Uint8Array.from(p.iscrowd),
        area: Float32Array.from(p.area),
      };
      return p.hasAllSegmentations ? { ...record, segmentations: p.segmentations } : record;
    })
    .sort((a, b) => compareIds(a.id, b.id));
  return {
    classes: categories.map((c) => c.name),
    categories,
    records,
    dropped,
    get: (index, options) => loadSample(records[index], options),
  };
}

/** An image's record while its annotations are read. */
interface Pending {
  record: ImageRecord;
  boxes: number[];
  labels: number[];
  iscrowd: number[];
  area: number[];
  segmentations: CocoSegmentation[];
  hasAllSegmentations: boolean;
}

/** Categories by ascending id, and each id's label (its index in that order). */
function readCategories(json: unknown, file: string): { categories: CocoCategory[]; labelOf: Map<number, number> } {
  const categories: CocoCategory[] = arrayField(json, 'categories', file).map((c, i) => {
    const r = new RecordReader(file, `categories[${i}]`, c);
    return {
      id: r.number('id', { integer: true }),
      name: r.string('name'),
      supercategory: r.has('supercategory') ? r.string('supercategory') : '',
    };
  });
  categories.sort((a, b) => a.id - b.id);
  const labelOf = new Map<number, number>();
  categories.forEach((c, label) => {
    if (labelOf.has(c.id)) throw formatError(file, `categories (id ${c.id})`, 'duplicate category id');
    labelOf.set(c.id, label);
  });
  return { categories, labelOf };
}

function readImages(json: unknown, file: string, imageDir: string): Map<number | string, Pending> {
  const images = new Map<number | string, Pending>();
  arrayField(json, 'images', file).forEach((img, i) => {
    const r = new RecordReader(file, `images[${i}]`, img);
    const id = r.id('id');
    const where = `images[${i}] (id ${JSON.stringify(id)})`;
    const named = new RecordReader(file, where, img);
    if (images.has(id)) named.fail('duplicate image id');
    const fileName = named.string('file_name');
    const imagePath = pathInside(imageDir, fileName, file, where);
    requireFile(imagePath, file, `${where}, file_name ${JSON.stringify(fileName)}`);
    const record: ImageRecord = {
      id,
      imagePath,
      width: named.number('width', { integer: true, min: 1 }),
      height: named.number('height', { integer: true, min: 1 }),
      boxes: new Float32Array(0),
      labels: new Int32Array(0),
      iscrowd: new Uint8Array(0),
      area: new Float32Array(0),
      source: file,
    };
    images.set(id, {
      record,
      boxes: [],
      labels: [],
      iscrowd: [],
      area: [],
      segmentations: [],
      hasAllSegmentations: true,
    });
  });
  return images;
}

/** Adds each annotation to its image; returns the annotations left out for an empty box. */
function readAnnotations(
  json: unknown,
  file: string,
  images: Map<number | string, Pending>,
  categories: CocoCategory[],
  labelOf: Map<number, number>,
  crowd: 'keep' | 'drop',
): CocoDataset['dropped'] {
  const dropped: CocoDataset['dropped'] = [];
  const annotationIds = new Set<number | string>();
  arrayField(json, 'annotations', file).forEach((ann, i) => {
    const first = new RecordReader(file, `annotations[${i}]`, ann);
    const id = first.id('id');
    const r = new RecordReader(file, `annotations[${i}] (id ${JSON.stringify(id)})`, ann);
    if (annotationIds.has(id)) r.fail('duplicate annotation id');
    annotationIds.add(id);
    const imageId = r.id('image_id');
    const image = images.get(imageId);
    if (!image) r.fail(`image_id ${JSON.stringify(imageId)} is not in "images"`);
    const categoryId = r.number('category_id', { integer: true });
    const label = labelOf.get(categoryId);
    if (label === undefined)
      r.fail(`unknown category_id ${categoryId} (categories: ${categories.map((c) => c.id).join(', ')})`);
    const [x, y, w, h] = r.numbers('bbox', 4);
    const { width, height } = image!.record;
    const box = checkBox([x, y, x + w, y + h], width, height, (problem) =>
      r.fail(`${problem} (bbox [x, y, w, h] = [${x}, ${y}, ${w}, ${h}])`),
    );
    const iscrowd = r.number('iscrowd', { integer: true, min: 0, fallback: 0 });
    if (iscrowd > 1) r.fail(`"iscrowd" must be 0 or 1, got ${iscrowd}`);
    const area = r.number('area', { min: 0 });
    if (iscrowd === 1 && crowd === 'drop') return;
    if (box[2] <= box[0] || box[3] <= box[1]) {
      dropped.push({ annotationId: id, imageId, reason: `empty box [${x}, ${y}, ${w}, ${h}]` });
      return;
    }
    const pending = image!;
    pending.boxes.push(...box);
    pending.labels.push(label!);
    pending.iscrowd.push(iscrowd);
    pending.area.push(area);
    const segmentation = r.raw('segmentation');
    if (segmentation === undefined) pending.hasAllSegmentations = false;
    else {
      checkSegmentationShape(segmentation, width, height, r);
      pending.segmentations.push(segmentation as CocoSegmentation);
    }
  });
  return dropped;
}

function compareIds(a: number | string, b: number | string): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
}

/** Structural check at load time, so a bad mask is reported with its record rather than mid-training. */
function checkSegmentationShape(segmentation: unknown, width: number, height: number, r: RecordReader): void {
  if (Array.isArray(segmentation)) {
    segmentation.forEach((poly, k) => {
      if (!isPolygon(poly)) r.fail(`segmentation polygon ${k} must be a list of at least 2 finite x, y pairs`);
    });
    return;
  }
  const rle = new RecordReader(r.file, `${r.record} segmentation`, segmentation);
  const [h, w] = rle.numbers('size', 2);
  if (h !== height || w !== width) rle.fail(`RLE size [${h}, ${w}] differs from the image's [${height}, ${width}]`);
  const counts = rle.raw('counts');
  if (typeof counts !== 'string' && !(Array.isArray(counts) && counts.every((c) => Number.isInteger(c) && c >= 0))) {
    rle.fail('RLE "counts" must be a string or a list of non-negative integers');
  }
}

/** The usual layout: `<root>/annotations/instances_<split>.json` and images in `<root>/<split>/`. */
export function cocoPaths(root: string, split: string): CocoLoadOptions {
  return { annotationFile: join(root, 'annotations', `instances_${split}.json`), imageDir: join(root, split) };
}
