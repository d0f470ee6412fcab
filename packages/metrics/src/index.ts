export {
  evaluateCoco,
  formatCocoSummary,
  cocoBoxIou,
  COCO_STAT_NAMES,
  COCO_IOU_THRESHOLDS,
  COCO_RECALL_THRESHOLDS,
  COCO_AREA_RANGES,
} from './coco';
export type {
  CocoDataset,
  CocoImage,
  CocoCategory,
  CocoAnnotation,
  CocoDetection,
  CocoAreaRange,
  CocoEvalOptions,
  CocoEvalResult,
  CocoCategoryResult,
} from './coco';
export { evaluateVid, vidMotionIou, vidBoxIou, vocAp, VID_MOTION_RANGES } from './vid';
export type {
  VidFrame,
  VidObject,
  VidDetection,
  VidMotionRange,
  VidEvalOptions,
  VidEvalResult,
  VidRangeResult,
} from './vid';
export { SegmentationEvaluator, labelBoundaries, dilateSquare, confusionMetrics } from './segmentation';
export type { LabelMap, SegmentationOptions, SegmentationResult } from './segmentation';
export {
  vqaAccuracy,
  evaluateVqa,
  normalizeVqaAnswer,
  processPunctuation,
  processDigitArticle,
  vcrAccuracy,
} from './vqa';
export type { VqaQuestion, VqaPrediction, VqaEvalResult, VcrPrediction, VcrLabel, VcrAccuracy } from './vqa';
export { clearMot, identityF1, trackJitter } from './mot';
export type { MotBox, MotFrame, MotOptions, MotResult, IdentityResult, JitterResult } from './mot';
export { flowEndPointError } from './flow';
export type { FlowErrorResult } from './flow';
export { linearSumAssignment } from './assignment';
