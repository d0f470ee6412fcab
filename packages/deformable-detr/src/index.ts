export {
  DEFORMABLE_DETR_R50,
  DEFORMABLE_DETR_SMALL,
  DETR_R50,
  DETR_SMALL,
  validateDeformableDetrConfig,
  validateDetrConfig,
} from './config';
export type { BackboneConfig, DeformableDetrConfig, DetrConfig } from './config';
export { DeformableDETR } from './deformable_detr';
export {
  DeformableTransformer,
  DeformableEncoder,
  DeformableEncoderLayer,
  DeformableDecoder,
  DeformableDecoderLayer,
} from './deformable_transformer';
export type { TransformerOutputs } from './deformable_transformer';
export { Backbone } from './backbone';
export { disposeOutputs, inverseSigmoid } from './misc';
export type { DetectionOutputs, Predictions } from './misc';
export { DETR } from './detr';
export { DetrTransformer } from './transformer';
export { hungarianMatch, matchingCost, giouPair } from './matcher';
export type { DetectionTarget, ClassificationKind, MatcherOptions, Match } from './matcher';
export { SetCriterion, sigmoidFocalLoss } from './criterion';
export type { CriterionOptions, CriterionResult } from './criterion';
export { postProcess, toCocoResults } from './postprocess';
export type { Detections } from './postprocess';
export { paramGroups, trainStep } from './train';
export type { DetectionModel, ParamGroupOptions, TrainBatch, StepResult } from './train';
