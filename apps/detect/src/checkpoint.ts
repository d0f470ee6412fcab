import { readFileSync } from 'node:fs';
import type { Detector, DetectorKind } from './detector';
import { detectorFromCheckpoint, type CheckpointConfig } from './inference';

export type { CheckpointConfig } from './inference';

/** Rebuilds a trained detector from the checkpoint file at `path` (checked as `detectorFromCheckpoint` says). */
export function loadDetector(
  path: string,
  expect: { detector?: string; numClasses?: number } = {},
): { kind: DetectorKind; detector: Detector; saved: CheckpointConfig } {
  return detectorFromCheckpoint(new Uint8Array(readFileSync(path)), path, expect);
}
