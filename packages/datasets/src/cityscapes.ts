import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { boxColumns } from './boxes';
import type { ImageDataset } from './coco';
import { formatError } from './errors';
import { requireFile } from './files';
import { CITYSCAPES_CLASSES } from './formats/cityscapes';
import { pngSize } from './pngsize';
import { loadSample } from './sample';
import type { ImageRecord } from './types';

export interface CityscapesLoadOptions {
  /** The folder holding leftImg8bit/ and gtFine/. */
  root: string;
  split: string;
}

/**
 * Loads a Cityscapes split for semantic segmentation: leftImg8bit/<split>/<city>/*_leftImg8bit.png with
 * gtFine/<split>/<city>/*_gtFine_labelIds.png. `get(i).segmentation` holds trainIds (0..18, 255 ignore),
 * mapped from labelIds with the official table. Records are sorted by city, then file name.
 */
export function loadCityscapes({ root, split }: CityscapesLoadOptions): ImageDataset {
  const imageRoot = join(root, 'leftImg8bit', split);
  if (!existsSync(imageRoot)) throw formatError(imageRoot, '', 'split folder not found');
  const records: ImageRecord[] = [];
  for (const city of readdirSync(imageRoot).sort()) {
    const files = readdirSync(join(imageRoot, city))
      .filter((f) => f.endsWith('_leftImg8bit.png'))
      .sort();
    for (const fileName of files) {
      const stem = fileName.slice(0, -'_leftImg8bit.png'.length);
      const imagePath = join(imageRoot, city, fileName);
      const labelPath = join(root, 'gtFine', split, city, `${stem}_gtFine_labelIds.png`);
      requireFile(labelPath, imagePath, `${city}/${stem}`);
      const { width, height } = pngSize(imagePath, `${city}/${stem}`);
      records.push({
        id: stem,
        imagePath,
        width,
        height,
        ...boxColumns([], []), // segmentation only: no boxes
        labelMap: { path: labelPath, encoding: 'cityscapes-labelids', numClasses: CITYSCAPES_CLASSES.length },
        source: imagePath,
      });
    }
  }
  return { classes: [...CITYSCAPES_CLASSES], records, get: (index, options) => loadSample(records[index], options) };
}
