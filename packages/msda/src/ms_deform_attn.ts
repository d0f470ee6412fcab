import * as tf from '@tensorflow/tfjs-core';
import { argumentError, checkShapes } from '@deformjs/core';
import {
  bilinearGatherChecked,
  checkGatherArgumentsResolved,
  resolveLevels,
  type LevelStartIndexLike,
  type ResolvedLevels,
  type SpatialShapesLike,
} from '@deformjs/sampling';

const OP = 'msDeformAttn';
const NAMES = {
  value: 'value',
  spatialShapes: 'spatialShapes',
  levelStartIndex: 'levelStartIndex',
  locations: 'samplingLocations',
  weights: 'attentionWeights',
};

/**
 * Multi-scale deformable attention (Deformable DETR's MSDeformAttnFunction), with the reference's shapes:
 * value (N, S, M, D); spatialShapes (L, 2) rows (H, W); levelStartIndex (L,); samplingLocations
 * (N, Lq, M, L, P, 2) as (x, y) normalised to [0, 1] with align_corners=False; attentionWeights
 * (N, Lq, M, L, P). Returns (N, Lq, M*D). Differentiable in value, samplingLocations and attentionWeights.
 */
export function msDeformAttn(
  value: tf.Tensor,
  spatialShapes: SpatialShapesLike,
  levelStartIndex: LevelStartIndexLike,
  samplingLocations: tf.Tensor,
  attentionWeights: tf.Tensor,
): tf.Tensor {
  return msDeformAttnResolved(
    value,
    resolveLevels(OP, spatialShapes, levelStartIndex, NAMES),
    samplingLocations,
    attentionWeights,
  );
}

/**
 * `msDeformAttn` on a level layout resolved (read and validated) once by the caller, as `MSDeformAttn.forward`
 * does: the tensors are still checked, the layout is not read again.
 */
export function msDeformAttnResolved(
  value: tf.Tensor,
  levels: ResolvedLevels,
  samplingLocations: tf.Tensor,
  attentionWeights: tf.Tensor,
): tf.Tensor {
  for (const [name, t] of [
    ['value', value],
    ['samplingLocations', samplingLocations],
    ['attentionWeights', attentionWeights],
  ] as const) {
    if (!(t instanceof tf.Tensor)) throw argumentError(OP, name, 'a tensor', t);
  }
  // The reference's symbols first, so errors read in its terms; then the level layout and dtypes.
  const { N, Lq, M, D } = checkShapes(OP, [
    { name: 'value', shape: value.shape, expected: ['N', 'S', 'M', 'D'] },
    { name: 'samplingLocations', shape: samplingLocations.shape, expected: ['N', 'Lq', 'M', 'L', 'P', 2] },
    { name: 'attentionWeights', shape: attentionWeights.shape, expected: ['N', 'Lq', 'M', 'L', 'P'] },
  ]);
  const checked = checkGatherArgumentsResolved(
    OP,
    value,
    levels,
    samplingLocations,
    attentionWeights,
    { normalized: true, reduce: 'sum' },
    NAMES,
  );
  return tf.tidy(() =>
    tf.reshape(bilinearGatherChecked(value, samplingLocations, attentionWeights, checked), [N, Lq, M * D]),
  );
}
