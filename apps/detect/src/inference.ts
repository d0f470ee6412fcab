// A trained detector from checkpoint bytes, and one image through it: no Node module here, so apps/demo runs the
// same code in a browser page as `detect` runs in Node.
import { Rng } from '@deformjs/core';
import { applyTransforms, collate, type RgbImage, type Sample, type TransformSpec } from '@deformjs/datasets/browser';
import { decodeCheckpoint, readCheckpointInfo } from '@deformjs/weights';
import type { Detections, Detector, DetectorKind } from './detector';
import { detectorKind } from './detectors';

/** What a checkpoint's `config` holds besides the weights: enough to rebuild the detector and use it alone. */
export interface CheckpointConfig {
  detector: string;
  config: unknown;
  /** Class names and COCO category ids, by contiguous label. */
  classes: string[];
  categoryIds: number[];
  /** How `detect` prepares an image of any size (the training scale). */
  detectTransforms: TransformSpec[];
}

/**
 * Rebuilds a trained detector from a checkpoint's bytes (`source` names it in errors): its configuration is
 * checked (type and sane bounds) before the model is built, so a crafted file cannot make it allocate gigabytes.
 * `expect` refuses a checkpoint of another detector or class count, saying which.
 */
export function detectorFromCheckpoint(
  bytes: Uint8Array,
  source: string,
  expect: { detector?: string; numClasses?: number } = {},
): { kind: DetectorKind; detector: Detector; saved: CheckpointConfig } {
  const saved = readCheckpointInfo(bytes, source).config as Partial<CheckpointConfig> | null;
  if (
    !saved ||
    typeof saved.detector !== 'string' ||
    !Array.isArray(saved.classes) ||
    !Array.isArray(saved.categoryIds) ||
    !Array.isArray(saved.detectTransforms)
  )
    throw new Error(`${source} is not a checkpoint of this app's trainer (no detector configuration inside)`);
  const kind = detectorKind(saved.detector);
  const config = kind.validate(saved.config, source);
  const numClasses = kind.numClasses(config);
  if (expect.detector !== undefined && expect.detector !== kind.name)
    throw new Error(`${source} holds a ${kind.label} (${kind.name}), not the ${expect.detector} asked for`);
  if (saved.classes.length !== numClasses || saved.categoryIds.length !== numClasses)
    throw new Error(
      `${source}: the model has ${numClasses} classes but the checkpoint names ${saved.classes.length} (${saved.categoryIds.length} category ids)`,
    );
  if (expect.numClasses !== undefined && expect.numClasses !== numClasses)
    throw new Error(
      `${source} detects ${numClasses} classes (${saved.classes.join(', ')}), but the data has ${expect.numClasses}`,
    );
  const detector = kind.build(config);
  try {
    decodeCheckpoint(bytes, { model: detector.model }, source);
  } catch (error) {
    detector.model.dispose();
    throw error;
  }
  return { kind, detector, saved: saved as CheckpointConfig };
}

/** An image as a sample prepared by the checkpoint's `detectTransforms` (the training scale, normalised). */
export function prepareImage(image: RgbImage, transforms: readonly TransformSpec[], id = 1): Sample {
  const sample: Sample = {
    id,
    image: image.data,
    width: image.width,
    height: image.height,
    origWidth: image.width,
    origHeight: image.height,
    boxes: new Float32Array(0),
    labels: new Int32Array(0),
    iscrowd: new Uint8Array(0),
    area: new Float32Array(0),
  };
  return applyTransforms(sample, transforms, new Rng(0));
}

/**
 * One image of any size (RGB pixels) through a trained detector (in eval mode), prepared as `prepareImage` does;
 * boxes in the image's own pixels.
 */
export function detectImage(detector: Detector, saved: CheckpointConfig, image: RgbImage, id = 1): Detections {
  return detector.detect(collate([prepareImage(image, saved.detectTransforms, id)]))[0];
}
