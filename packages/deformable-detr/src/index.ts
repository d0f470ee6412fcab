export {
  DEFORMABLE_DETR_R50,
  DEFORMABLE_DETR_SMALL,
  DETR_R50,
  DETR_SMALL,
  validateDeformableDetrConfig,
  validateDetrConfig,
} from './config';
export type { BackboneConfig, DeformableDetrConfig, DetrConfig } from './config';
export { DeformableDETR, DeformableTransformer } from './deformable_detr';
export {
  DeformableEncoder,
  DeformableEncoderLayer,
  DeformableDecoder,
  DeformableDecoderLayer,
  inverseSigmoid,
} from './deformable_transformer';
export { Backbone, Embedding, disposeOutputs } from './heads';
export type { DetectionOutputs, Predictions } from './heads';
export { DETR, DetrTransformer } from './detr';
export { hungarianMatch, matchingCost, giouPair } from './matcher';
export type { DetectionTarget, ClassificationKind, MatcherOptions, Match } from './matcher';
export { SetCriterion, sigmoidFocalLoss } from './criterion';
export type { CriterionOptions, CriterionResult } from './criterion';
export { postProcess, toCocoResults } from './postprocess';
export type { Detections } from './postprocess';
export { paramGroups, trainStep } from './train';
export type { DetectionModel, ParamGroupOptions, TrainBatch, StepResult } from './train';
