export { sparseConv2d, sparseConv2dComposed, activeIndices, checkSparseConv2dArguments } from './sparse_conv';
export type { SparseConv2dOptions, ActiveIndices } from './sparse_conv';
export { interpolate, interpolateSampled, gaussianKernel } from './interpolate';
export {
  gumbelSigmoid,
  applyGridPrior,
  binarizeMask,
  sampleEvalMask,
  sparsityLoss,
  GumbelSigmoid,
  EVAL_TEMPERATURE,
} from './mask';
export { SparseBottleneck, SparseResLayer } from './bottleneck';
export type { SparseBottleneckOptions, BlockMasks } from './bottleneck';
export type { SparseConvGeometry } from './sparse_impl';
export { SparseResNet } from './resnet';
export type { SparseResNetOptions } from './resnet';
