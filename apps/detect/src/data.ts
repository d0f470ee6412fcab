import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cocoPaths, ensureShapesDataset, loadCoco, type CocoDataset, type TransformSpec } from '@deformjs/datasets';
import type { CocoDataset as CocoGroundTruth } from '@deformjs/metrics';

export interface DataOptions {
  /** A COCO-format root (annotations/instances_<split>.json, <split>/); default: the synthetic shapes world. */
  coco?: string;
  trainSplit: string;
  valSplit: string;
  /** Where the shapes world is generated on first use. */
  cache: string;
  /** Shapes: longest image side. */
  size: number;
  trainCount: number;
  valCount: number;
  dataSeed: number;
  /** Shorter-side resize (and the longer side's cap); 0 keeps images as they are. */
  resize: number;
  maxSize: number;
}

export interface DetectionData {
  train: CocoDataset;
  val: CocoDataset;
  /** The validation annotations as evaluateCoco takes them. */
  valGroundTruth: CocoGroundTruth;
  /** COCO category id of each contiguous label. */
  categoryIds: number[];
  classes: string[];
  trainTransforms: TransformSpec[];
  evalTransforms: TransformSpec[];
  /** For `detect` on images of any size: as evaluation, brought to the training images' scale. */
  detectTransforms: TransformSpec[];
  root: string;
  /** What identifies the training data: a resumed run must see the same (checked field by field). */
  fingerprint: Record<string, unknown>;
}

export async function loadDetectionData(o: DataOptions): Promise<DetectionData> {
  const root =
    o.coco ??
    (await ensureShapesDataset('detection', o.cache, {
      seed: o.dataSeed,
      count: o.trainCount,
      valCount: o.valCount,
      size: o.size,
    }));
  const trainSplit = o.coco ? o.trainSplit : 'train';
  const valSplit = o.coco ? o.valSplit : 'val';
  const train = loadCoco(cocoPaths(root, trainSplit));
  const valPaths = cocoPaths(root, valSplit);
  const val = loadCoco(valPaths);
  const resize: TransformSpec[] = o.resize > 0 ? [{ type: 'resize', size: o.resize, maxSize: o.maxSize }] : [];
  const trainAnnotations = readFileSync(cocoPaths(root, trainSplit).annotationFile);
  const source = o.coco
    ? { coco: o.coco, trainSplit, resize: o.resize, maxSize: o.maxSize }
    : { shapes: { size: o.size, trainCount: o.trainCount, dataSeed: o.dataSeed } };
  return {
    train,
    val,
    valGroundTruth: JSON.parse(readFileSync(valPaths.annotationFile, 'utf8')) as CocoGroundTruth,
    categoryIds: train.categories.map((c) => c.id),
    classes: train.classes,
    trainTransforms: [{ type: 'horizontalFlip', p: 0.5 }, ...resize, { type: 'normalize' }],
    evalTransforms: [...resize, { type: 'normalize' }],
    detectTransforms: [
      ...(o.coco ? resize : [{ type: 'resize', size: o.size, maxSize: o.size } as const]),
      { type: 'normalize' },
    ],
    root,
    fingerprint: {
      ...source,
      trainImages: train.records.length,
      classes: train.classes,
      annotationsSha256: createHash('sha256').update(trainAnnotations).digest('hex'),
    },
  };
}
