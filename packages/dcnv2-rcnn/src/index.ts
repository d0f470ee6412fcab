export {
  ABLATION_VARIANTS,
  FASTER_RCNN_R50_FPN,
  FASTER_RCNN_SMALL,
  FASTER_RCNN_TINY,
  FASTER_RCNN_MOBILE_TINY,
  SPARSE_VARIANTS,
  validateFasterRcnnConfig,
  withAblationVariant,
  withSparseVariant,
} from './config';
export type { AblationVariant, FasterRcnnConfig, DcnStages, SparseVariant } from './config';
export { BackboneWithFPN, LEVEL_STRIDES } from './backbone';
export { RPNHead, RegionProposalNetwork } from './rpn';
export type { DetectionTarget } from './rpn';
export { MultiScaleRoIPool, TwoMLPHead, FastRCNNPredictor, RoIHeads } from './roi_heads';
export type { Detections, RoISample } from './roi_heads';
export { FasterRCNN } from './faster_rcnn';
export type { FasterRcnnTarget, FasterRcnnLosses } from './faster_rcnn';
export { matchBoxes, sampleBalanced, mapLevels, iouMatrix, BELOW_LOW_THRESHOLD, BETWEEN_THRESHOLDS } from './matching';
export { smoothL1Sum, binaryCrossEntropyWithLogits, crossEntropy, cosineMimicLoss } from './losses';
export { trainStep } from './train';
export type { FasterRcnnBatch, StepResult } from './train';
