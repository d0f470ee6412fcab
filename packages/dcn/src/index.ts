export { deformConv2d, checkDeformConv2dArguments } from './deform_conv2d';
export type { DeformConv2dOptions, DeformConv2dGeometry } from './deform_conv2d';
