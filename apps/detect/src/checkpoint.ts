import { readFileSync } from 'node:fs';
import type { TransformSpec } from '@deformjs/datasets';
import { decodeCheckpoint, readCheckpointInfo } from '@deformjs/weights';
import type { Detector, DetectorKind } from './detector';
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
 * Rebuilds a trained detector from a checkpoint: its configuration is checked (type and sane bounds) before
 * the model is built, so a crafted file cannot make it allocate gigabytes. `expect` refuses a checkpoint of
 * another detector or class count, saying which.
 */
export function loadDetector(
  path: string,
  expect: { detector?: string; numClasses?: number } = {},
): { kind: DetectorKind; detector: Detector; saved: CheckpointConfig } {
  const bytes = new Uint8Array(readFileSync(path));
  const saved = readCheckpointInfo(bytes, path).config as Partial<CheckpointConfig> | null;
  if (
    !saved ||
    typeof saved.detector !== 'string' ||
    !Array.isArray(saved.classes) ||
    !Array.isArray(saved.categoryIds) ||
    !Array.isArray(saved.detectTransforms)
  )
    throw new Error(`${path} is not a checkpoint of this app's trainer (no detector configuration inside)`);
  const kind = detectorKind(saved.detector);
  const config = kind.validate(saved.config, path);
  const numClasses = kind.numClasses(config);
  if (expect.detector !== undefined && expect.detector !== kind.name)
    throw new Error(`${path} holds a ${kind.label} (${kind.name}), not the ${expect.detector} asked for`);
  if (saved.classes.length !== numClasses || saved.categoryIds.length !== numClasses)
    throw new Error(
      `${path}: the model has ${numClasses} classes but the checkpoint names ${saved.classes.length} (${saved.categoryIds.length} category ids)`,
    );
  if (expect.numClasses !== undefined && expect.numClasses !== numClasses)
    throw new Error(
      `${path} detects ${numClasses} classes (${saved.classes.join(', ')}), but the data has ${expect.numClasses}`,
    );
  const detector = kind.build(config);
  try {
    decodeCheckpoint(bytes, { model: detector.model }, path);
  } catch (error) {
    detector.model.dispose();
    throw error;
  }
  return { kind, detector, saved: saved as CheckpointConfig };
}
