export { deformConv2d, deformConv2dLimits, checkDeformConv2dArguments } from './deform_conv2d';
export type { DeformConv2dOptions, DeformConv2dGeometry } from './deform_conv2d';
export { DeformConv2d, ModulatedDeformConv2d, deformConv3x3 } from './layers';
export type { DeformConvLayerOptions, DeformConv3x3Options, DeformStage } from './layers';
export { deformRoIPool } from './deform_roi_pool';
export type { DeformRoIPoolOptions } from './deform_roi_pool';
export { ModulatedDeformRoIPoolPack } from './layers';
export type { ModulatedDeformRoIPoolPackOptions } from './layers';
