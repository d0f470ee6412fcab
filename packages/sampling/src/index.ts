export { bilinearGather, bilinearGatherChecked } from './bilinear_gather';
export { bilinearGatherComposed } from './composed';
export { gridSample } from './grid_sample';
export type { GridSampleOptions } from './grid_sample';
export { checkGatherArguments, checkGatherArgumentsResolved, resolveLevels, GATHER_ARGUMENT_NAMES } from './validate';
export type {
  BilinearGatherOptions,
  CheckedGather,
  GatherArgumentNames,
  LevelStartIndexLike,
  ResolvedLevels,
  SpatialShapesLike,
} from './validate';
export { BILINEAR_GATHER, BILINEAR_GATHER_GRAD } from './kernels';
/** The bilinear corner arithmetic of the sampling core, for other fused kernels that read a map bilinearly. */
export { Corners } from './bilinear_gather_impl';
