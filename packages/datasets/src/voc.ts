import { join } from 'node:path';
import { boxColumns, checkBox } from './boxes';
import type { ImageDataset } from './coco';
import { formatError } from './errors';
import { pathInside, readText, requireFile } from './files';
import { childrenNamed, numberChild, optionalChild, parseAnnotation, requiredChild } from './formats/xml';
import { loadSample } from './sample';
import type { ImageRecord } from './types';

/** PASCAL VOC classes, index = label in SegmentationClass PNGs (0 background, 255 void). */
export const VOC_CLASSES = [
  'background',
  'aeroplane',
  'bicycle',
  'bird',
  'boat',
  'bottle',
  'bus',
  'car',
  'cat',
  'chair',
  'cow',
  'diningtable',
  'dog',
  'horse',
  'motorbike',
  'person',
  'pottedplant',
  'sheep',
  'sofa',
  'train',
  'tvmonitor',
] as const;

export interface VocLoadOptions {
  /** The VOC folder (holding JPEGImages, Annotations, SegmentationClass, ImageSets). */
  root: string;
  /** Split name: `ImageSets/<Segmentation|Main>/<split>.txt`. */
  split: string;
  /** 'segmentation' reads ImageSets/Segmentation and the SegmentationClass label maps; 'detection' ImageSets/Main. */
  task: 'segmentation' | 'detection';
  /** Class names with background first; defaults to the 21 VOC classes. */
  classes?: readonly string[];
}

/**
 * Loads a PASCAL VOC split. Boxes come from Annotations/<id>.xml (1-based inclusive pixel indices, turned
 * into continuous xyxy as [xmin - 1, ymin - 1, xmax, ymax], as detectron2 does); box labels use the same
 * indices as the label maps (1..20, background 0). For 'segmentation', `get(i).segmentation` is the palette
 * index map with 255 void. Missing files, unknown class names, bad XML and boxes outside the image throw
 * naming the file and the object.
 */
export function loadVoc({ root, split, task, classes = VOC_CLASSES }: VocLoadOptions): ImageDataset {
  const listFile = join(root, 'ImageSets', task === 'segmentation' ? 'Segmentation' : 'Main', `${split}.txt`);
  const ids = readText(listFile, 'image set list')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  const labelOf = new Map(classes.map((name, i) => [name, i]));
  const records: ImageRecord[] = ids.map((id, line) => {
    if (/\s/.test(id))
      throw formatError(listFile, `line ${line + 1}`, `expected one image id per line, got ${JSON.stringify(id)}`);
    const imagePath = pathInside(join(root, 'JPEGImages'), `${id}.jpg`, listFile, `line ${line + 1}`);
    requireFile(imagePath, listFile, `line ${line + 1} (${id})`);
    const record = readVocAnnotation(join(root, 'Annotations', `${id}.xml`), id, imagePath, labelOf, listFile, line);
    if (task === 'segmentation') {
      const path = join(root, 'SegmentationClass', `${id}.png`);
      requireFile(path, listFile, `line ${line + 1} (${id})`);
      record.labelMap = { path, encoding: 'indexed', numClasses: classes.length };
    }
    return record;
  });
  return { classes: [...classes], records, get: (index, options) => loadSample(records[index], options) };
}

function readVocAnnotation(
  file: string,
  id: string,
  imagePath: string,
  labelOf: Map<string, number>,
  listFile: string,
  line: number,
): ImageRecord {
  requireFile(file, listFile, `line ${line + 1} (${id}) annotation`);
  const { root, width, height } = parseAnnotation(readText(file, 'annotation'), file);
  const boxes: number[] = [];
  const labels: number[] = [];
  const difficult: number[] = [];
  childrenNamed(root, 'object').forEach((object, k) => {
    const where = `object ${k}`;
    const name = requiredChild(object, 'name', file, where).text;
    const label = labelOf.get(name);
    if (label === undefined || label === 0)
      throw formatError(
        file,
        where,
        `unknown class name ${JSON.stringify(name)} (known: ${[...labelOf.keys()].slice(1).join(', ')})`,
      );
    const bndbox = requiredChild(object, 'bndbox', file, where);
    const [xmin, ymin, xmax, ymax] = ['xmin', 'ymin', 'xmax', 'ymax'].map((key) =>
      numberChild(bndbox, key, file, where),
    );
    const fail = (problem: string): never => {
      throw formatError(
        file,
        `${where} (${name})`,
        `${problem}; bndbox xmin ${xmin} ymin ${ymin} xmax ${xmax} ymax ${ymax}, 1-based`,
      );
    };
    boxes.push(...checkBox([xmin - 1, ymin - 1, xmax, ymax], width, height, fail));
    labels.push(label);
    const flag = optionalChild(object, 'difficult');
    difficult.push(flag && flag.text === '1' ? 1 : 0);
  });
  return {
    id,
    imagePath,
    width,
    height,
    ...boxColumns(boxes, labels),
    difficult: Uint8Array.from(difficult),
    source: file,
  };
}
