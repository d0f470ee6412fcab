// The part of @deformjs/datasets that runs in a browser (no Node module, no sharp): the box-consistent transforms,
// padded batching and the shapes world's class names, for a page that prepares images as the trainers do.
export type { Sample, RgbImage } from './types';
export {
  IMAGENET_MEAN,
  IMAGENET_STD,
  applyTransforms,
  validateTransforms,
  sizeWithAspectRatio,
  resizeImage,
  normalize,
} from './transforms';
export type { TransformSpec } from './transforms';
export { collate } from './batch';
export type { Batch } from './batch';
export { SHAPE_CLASSES } from './shapes/raster';
