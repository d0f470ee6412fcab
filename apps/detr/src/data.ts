import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import {
  cocoPaths,
  ensureShapesDataset,
  loadCoco,
  type Batch,
  type CocoDataset,
  type TransformSpec,
} from '@deformjs/datasets';
import type { CocoDataset as CocoGroundTruth } from '@deformjs/metrics';
import type { DetectionTarget } from '@deformjs/deformable-detr';

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
  root: string;
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
  return {
    train,
    val,
    valGroundTruth: JSON.parse(readFileSync(valPaths.annotationFile, 'utf8')) as CocoGroundTruth,
    categoryIds: train.categories.map((c) => c.id),
    classes: train.classes,
    trainTransforms: [{ type: 'horizontalFlip', p: 0.5 }, ...resize, { type: 'normalize' }],
    evalTransforms: [...resize, { type: 'normalize' }],
    root,
  };
}

/**
 * A loader batch as model inputs: NHWC images, DETR's padding mask (true at padding) and the targets without
 * crowd regions (DETR trains on iscrowd = 0 only; the evaluator still sees them).
 */
export function toModelInputs(batch: Batch): { images: tf.Tensor4D; mask: tf.Tensor3D; targets: DetectionTarget[] } {
  const { batchSize: b, height: h, width: w } = batch;
  const images = tf.tensor4d(batch.images, [b, h, w, 3]);
  const mask = tf.tensor3d(
    Uint8Array.from(batch.pixelMask, (v) => (v ? 0 : 1)),
    [b, h, w],
    'bool',
  );
  const targets = batch.targets.map((t) => {
    const keep = Array.from(t.iscrowd, (c, i) => (c ? -1 : i)).filter((i) => i >= 0);
    return {
      labels: Int32Array.from(keep, (i) => t.labels[i]),
      boxes: Float32Array.from(keep.flatMap((i) => Array.from(t.boxes.subarray(4 * i, 4 * i + 4)))),
    };
  });
  return { images, mask, targets };
}
