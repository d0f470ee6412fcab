export { Conv2d, Linear, BatchNorm2d, FrozenBatchNorm2d, LayerNorm, Sequential, ReLU, dropout, conv2dNhwc } from './layers';
export type { Layer, Conv2dOptions } from './layers';
export { ResNet, resnet, plainConv3x3 } from './resnet';
export type { ResNetOptions, Conv3x3Context, Conv3x3Factory, FeatureName } from './resnet';
export { AdamW, clipGradNorm, stepSchedule, cosineSchedule, linearWarmup } from './optim';
export type { ParamGroup, AdamWOptions, OptimizerState, LrSchedule } from './optim';
export { linearSumAssignment } from './hungarian';
