import { join } from 'node:path';
import { checkBox } from './boxes';
import { loadRegions, type CaptionRegions } from './captions';
import { arrayField, readJson, RecordReader, requireFile } from './files';
import { decodeImage } from './image';
import type { RgbImage } from './types';

export interface RefexpRecord {
  refId: number;
  imageKey: string;
  sentence: string;
  /** The referred object's box, xyxy pixels. */
  box: [number, number, number, number];
  imagePath: string;
}

export interface RefexpDataset {
  records: RefexpRecord[];
  /** The image's candidate regions (boxes, classes, features). */
  regions(index: number): CaptionRegions;
  image(index: number): Promise<RgbImage>;
}

export interface RefexpLoadOptions {
  /** refs_<split>.json as `generateRefexp` writes it. */
  refsFile: string;
  featureDir: string;
  imageDir: string;
}

/** Loads referring expressions; every ref's image and region files must exist (checked up front). */
export function loadRefexp({ refsFile, featureDir, imageDir }: RefexpLoadOptions): RefexpDataset {
  const records = arrayField(readJson(refsFile), 'refs', refsFile).map((raw, i) => {
    const r = new RecordReader(refsFile, `refs[${i}]`, raw);
    const imageKey = r.string('image_key');
    if (!/^[A-Za-z0-9_-]+$/.test(imageKey))
      r.fail(`"image_key" must be a plain file name, got ${JSON.stringify(imageKey)}`);
    const imagePath = join(imageDir, `${imageKey}.jpg`);
    requireFile(imagePath, refsFile, `refs[${i}]`);
    requireFile(join(featureDir, `${imageKey}.json`), refsFile, `refs[${i}] regions`);
    const box = r.numbers('box', 4) as [number, number, number, number];
    checkBox(box, Infinity, Infinity, (problem) => r.fail(`box: ${problem}`));
    return { refId: r.number('ref_id', { integer: true }), imageKey, sentence: r.string('sentence'), box, imagePath };
  });
  return {
    records,
    regions: (index) => loadRegions(featureDir, records[index].imageKey),
    image: (index) => decodeImage(records[index].imagePath, `ref_id ${records[index].refId}`),
  };
}
