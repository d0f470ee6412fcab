import type { DetectorKind } from '../detector';
import { deformableDetr, detr } from './detr';
import { fasterRcnn } from './faster_rcnn';

/** Every detector the app trains, by `--model` name (the first is the default). Add a detector here. */
export const DETECTORS: readonly DetectorKind[] = [deformableDetr, detr, fasterRcnn];

export function detectorKind(name: string): DetectorKind {
  const kind = DETECTORS.find((d) => d.name === name);
  if (!kind)
    throw new Error(`unknown detector ${JSON.stringify(name)}: one of ${DETECTORS.map((d) => d.name).join(', ')}`);
  return kind;
}
