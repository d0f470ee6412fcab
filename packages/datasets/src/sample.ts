import { readFile } from 'node:fs/promises';
import { formatError } from './errors';
import { CITYSCAPES_TRAIN_IDS } from './formats/cityscapes';
import { decodeSegmentation } from './formats/mask';
import { decodeLabelPng } from './formats/png';
import { decodeImage } from './image';
import type { ImageRecord, Sample } from './types';

export interface LoadSampleOptions {
  /** Decode COCO segmentations into N x H x W instance masks. */
  masks?: boolean;
}

/**
 * Reads a record's pixels (and label map or instance masks): the one place images become samples, used on
 * the main thread and in the prefetch workers alike. A decoded size that disagrees with the annotation throws.
 */
export async function loadSample(record: ImageRecord, options: LoadSampleOptions = {}): Promise<Sample> {
  const where = `image ${JSON.stringify(record.id)}`;
  const image = await decodeImage(record.imagePath, where, record);
  const sample: Sample = {
    id: record.id,
    image: image.data,
    width: image.width,
    height: image.height,
    origWidth: image.width,
    origHeight: image.height,
    boxes: record.boxes.slice(),
    labels: record.labels.slice(),
    iscrowd: record.iscrowd.slice(),
    area: record.area.slice(),
  };
  if (record.trackIds) sample.trackIds = record.trackIds.slice();
  if (record.difficult) sample.difficult = record.difficult.slice();
  if (options.masks) {
    if (!record.segmentations)
      throw formatError(record.source, where, 'masks were asked for but the annotations have no segmentation');
    const plane = image.width * image.height;
    const masks = new Uint8Array(record.segmentations.length * plane);
    record.segmentations.forEach((segmentation, i) => {
      const fail = (problem: string): never => {
        throw formatError(record.source, `${where}, annotation ${i}`, problem);
      };
      masks.set(decodeSegmentation(segmentation, image.height, image.width, fail), i * plane);
    });
    sample.masks = masks;
  }
  if (record.labelMap) sample.segmentation = await loadLabelMap(record.labelMap, image.width, image.height, where);
  return sample;
}

async function loadLabelMap(
  labelMap: NonNullable<ImageRecord['labelMap']>,
  width: number,
  height: number,
  where: string,
): Promise<Uint8Array> {
  const { path, encoding, numClasses } = labelMap;
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw formatError(
      path,
      where,
      `cannot read the label map (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
  const png = decodeLabelPng(bytes, path, { expected: { width, height } });
  if (encoding === 'cityscapes-labelids') return png.data.map((id) => CITYSCAPES_TRAIN_IDS[id]);
  const bad = png.data.findIndex((v) => v >= numClasses && v !== 255);
  if (bad >= 0) {
    throw formatError(
      path,
      where,
      `label ${png.data[bad]} at pixel (x ${bad % width}, y ${Math.floor(bad / width)}) is neither a class in 0..${numClasses - 1} nor void 255`,
    );
  }
  return png.data;
}
