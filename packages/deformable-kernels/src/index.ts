export {
  deformKernelDepthwise,
  deformKernelDepthwiseComposed,
  deformKernelConv2d,
  globalDeformKernelDepthwise,
} from './ops';
export { LOCAL_DEFORM_KERNEL, LOCAL_DEFORM_KERNEL_GRAD } from './kernels';
export { LocalDeformKernel2d, DeformKernel2d, GlobalDeformKernel2d, DeformKernelConv2d } from './layers';
export type { DeformKernelLayerOptions, LocalDeformKernelOptions, DeformKernelConvOptions } from './layers';
export { resolveGeometry } from './geometry';
export type { DeformKernelOptions, DeformKernelGeometry } from './geometry';
