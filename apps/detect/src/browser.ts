// What a browser page needs from this app: a detector rebuilt from checkpoint bytes and one image through it.
// Nothing here imports a Node module, so apps/demo runs the same code in a page as `detect` runs in Node.
export type { Detections, Detector } from './detector';
export { deformableDetr } from './detectors/detr';
export { detectImage, detectorFromCheckpoint, prepareImage, type CheckpointConfig } from './inference';
