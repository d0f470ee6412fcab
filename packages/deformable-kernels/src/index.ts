export { deformKernelDepthwise, deformKernelConv2d, globalDeformKernelDepthwise } from './ops';
export { LocalDeformKernel2d, DeformKernel2d, GlobalDeformKernel2d, DeformKernelConv2d } from './layers';
export type { DeformKernelLayerOptions, LocalDeformKernelOptions } from './layers';
export { resolveGeometry } from './geometry';
export type { DeformKernelOptions, DeformKernelGeometry } from './geometry';
