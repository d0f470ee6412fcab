import { argumentError } from '@deformjs/core';

/** Cityscapes labelId -> trainId (cityscapesScripts' labels.py): 19 training classes, everything else 255. */
const LABEL_TO_TRAIN: ReadonlyArray<[number, number]> = [
  [7, 0],
  [8, 1],
  [11, 2],
  [12, 3],
  [13, 4],
  [17, 5],
  [19, 6],
  [20, 7],
  [21, 8],
  [22, 9],
  [23, 10],
  [24, 11],
  [25, 12],
  [26, 13],
  [27, 14],
  [28, 15],
  [31, 16],
  [32, 17],
  [33, 18],
];

/** Lookup table over all 256 byte values of a labelIds PNG. */
export const CITYSCAPES_TRAIN_IDS: Uint8Array = (() => {
  const table = new Uint8Array(256).fill(255);
  for (const [labelId, trainId] of LABEL_TO_TRAIN) table[labelId] = trainId;
  return table;
})();

/** The 19 Cityscapes training classes, indexed by trainId. */
export const CITYSCAPES_CLASSES = [
  'road',
  'sidewalk',
  'building',
  'wall',
  'fence',
  'pole',
  'traffic light',
  'traffic sign',
  'vegetation',
  'terrain',
  'sky',
  'person',
  'rider',
  'car',
  'truck',
  'bus',
  'train',
  'motorcycle',
  'bicycle',
] as const;

/** trainId -> labelId (what a writer of labelIds PNGs needs). */
export function cityscapesLabelId(trainId: number): number {
  const found = LABEL_TO_TRAIN.find(([, t]) => t === trainId);
  if (!found) throw argumentError('cityscapesLabelId', 'trainId', 'one of 0..18', trainId);
  return found[0];
}
