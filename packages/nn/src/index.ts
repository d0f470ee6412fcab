export {
  Conv2d,
  Linear,
  BatchNorm2d,
  FrozenBatchNorm2d,
  LayerNorm,
  Sequential,
  ModuleList,
  Embedding,
  ReLU,
  Dropout,
  NoiseSource,
  dropout,
  conv2dNhwc,
  convNorm,
} from './layers';
export { DepthwiseConv2d, ConvTranspose2d } from './conv';
export type { DepthwiseConv2dOptions, ConvTranspose2dOptions } from './conv';
export { MobileNet, DepthwiseSeparableConv, plainDepthwise3x3 } from './mobilenet';
export type { MobileNetOptions, Depthwise3x3Factory } from './mobilenet';
export { resizeBilinear } from './interpolate';
export type { ResizeBilinearOptions } from './interpolate';
export type { Layer, Conv2dOptions } from './layers';
export { GroupNorm } from './group_norm';
export { NORM_KINDS, makeNorm, normKind } from './norms';
export type { NormKind } from './norms';
export { ResNet, resnet, plainConv3x3 } from './resnet';
export type { ResNetOptions, Conv3x3Context, Conv3x3Factory, FeatureName } from './resnet';
export { AdamW, clipGradNorm, optimizationStep, stepSchedule, cosineSchedule, linearWarmup } from './optim';
export type { ParamGroup, AdamWOptions, OptimizerState, LrSchedule, OptimizationStep } from './optim';
export {
  boxCxcywhToXyxy,
  boxXyxyToCxcywh,
  boxArea,
  boxIou,
  generalizedBoxIou,
  generalizedBoxIouPaired,
  BoxCoder,
} from './boxes';
export { nms, batchedNms } from './nms';
export { AnchorGenerator } from './anchors';
export {
  MultiheadAttention,
  TransformerEncoderLayer,
  TransformerDecoderLayer,
  MLP,
  positionEmbeddingSine,
} from './transformer';
export type { AttentionOptions, TransformerLayerOptions, SineEmbeddingOptions } from './transformer';
export { ASPP, DeepLabV3PlusHead, Segmenter, createSegmenter } from './segmentation';
export type { DeepLabV3PlusHeadOptions, SegmenterOptions } from './segmentation';
export { FPN } from './fpn';
export type { FPNOptions } from './fpn';
export { roiAlign } from './roi_align';
export type { RoIAlignOptions } from './roi_align';
