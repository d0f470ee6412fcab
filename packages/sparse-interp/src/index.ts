export { sparseConv2d, activeIndices } from './sparse_conv';
export { sparseConv2dComposed } from './composed';
export { checkSparseConv2dArguments } from './validate';
export type { SparseConv2dOptions, ActiveIndices } from './validate';
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
export { SparseResNet } from './resnet';
export type { SparseResNetOptions } from './resnet';
