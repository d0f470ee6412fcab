import * as tf from '@tensorflow/tfjs-core';
import { type Rng, argumentError } from '@deformjs/core';
import { boxIou } from '@deformjs/nn';

/** Match value of a prediction whose best IoU is below the low threshold (background). */
export const BELOW_LOW_THRESHOLD = -1;
/** Match value of a prediction between the thresholds (ignored). */
export const BETWEEN_THRESHOLDS = -2;

/** Pairwise IoU [G * P] (row-major, ground truth by prediction) of xyxy boxes given as flat arrays. */
export function iouMatrix(gtBoxes: Float32Array, boxes: Float32Array): Float32Array {
  if (gtBoxes.length === 0 || boxes.length === 0) return new Float32Array(0);
  return tf
    .tidy(() => boxIou(tf.tensor2d(gtBoxes, [gtBoxes.length / 4, 4]), tf.tensor2d(boxes, [boxes.length / 4, 4])))
    .dataSync() as Float32Array;
}

/**
 * torchvision's Matcher: each of the P predictions takes its best ground truth among G (first on ties); below
 * `lowThreshold` it becomes BELOW_LOW_THRESHOLD, in [low, high) BETWEEN_THRESHOLDS. With `allowLowQualityMatches`
 * (the RPN) every prediction that ties for a ground truth's best IoU keeps its match, so each ground truth gets
 * at least one prediction; unlike torchvision, a ground truth that overlaps nothing (best IoU 0) matches none
 * rather than every prediction. With no ground truth every prediction is BELOW_LOW_THRESHOLD.
 */
export function matchBoxes(
  iou: Float32Array,
  numGt: number,
  numPred: number,
  highThreshold: number,
  lowThreshold: number,
  allowLowQualityMatches: boolean,
): Int32Array {
  if (iou.length !== numGt * numPred)
    throw argumentError('matchBoxes', 'iou', `${numGt} x ${numPred} values`, `${iou.length} values`);
  if (!(lowThreshold <= highThreshold))
    throw argumentError('matchBoxes', 'lowThreshold', `<= highThreshold (${highThreshold})`, lowThreshold);
  const matches = new Int32Array(numPred).fill(BELOW_LOW_THRESHOLD);
  if (numGt === 0) return matches;
  const best = new Float32Array(numPred).fill(-1);
  const bestGt = new Int32Array(numPred);
  for (let g = 0; g < numGt; g++) {
    for (let p = 0; p < numPred; p++) {
      if (iou[g * numPred + p] > best[p]) {
        best[p] = iou[g * numPred + p];
        bestGt[p] = g;
      }
    }
  }
  for (let p = 0; p < numPred; p++) {
    if (best[p] >= highThreshold) matches[p] = bestGt[p];
    else if (best[p] >= lowThreshold) matches[p] = BETWEEN_THRESHOLDS;
  }
  if (allowLowQualityMatches) {
    for (let g = 0; g < numGt; g++) {
      let highest = 0;
      for (let p = 0; p < numPred; p++) highest = Math.max(highest, iou[g * numPred + p]);
      if (highest === 0) continue;
      for (let p = 0; p < numPred; p++) if (iou[g * numPred + p] === highest) matches[p] = bestGt[p];
    }
  }
  return matches;
}

/**
 * torchvision's BalancedPositiveNegativeSampler for one image: `labels` 1+ foreground, 0 background, -1 ignored;
 * picks min(floor(batchSize * positiveFraction), #foreground) foreground and fills up to `batchSize` with
 * background, each drawn uniformly without replacement by `rng`.
 */
export function sampleBalanced(
  labels: Int32Array,
  batchSize: number,
  positiveFraction: number,
  rng: Rng,
): { positive: Int32Array; negative: Int32Array } {
  const positive: number[] = [];
  const negative: number[] = [];
  labels.forEach((l, i) => {
    if (l >= 1) positive.push(i);
    else if (l === 0) negative.push(i);
  });
  const numPositive = Math.min(Math.floor(batchSize * positiveFraction), positive.length);
  const numNegative = Math.min(batchSize - numPositive, negative.length);
  return {
    positive: Int32Array.from(rng.shuffle(positive).slice(0, numPositive)),
    negative: Int32Array.from(rng.shuffle(negative).slice(0, numNegative)),
  };
}

/**
 * FPN's level mapper (torchvision's LevelMapper, eq. 1 of the FPN paper): level
 * floor(canonicalLevel + log2(sqrt(area) / canonicalScale) + 1e-6) clamped to [kMin, kMax], returned as an index
 * from kMin. Computed in float32 as torchvision does.
 */
export function mapLevels(
  boxes: Float32Array,
  kMin: number,
  kMax: number,
  canonicalScale: number,
  canonicalLevel: number,
): Int32Array {
  const out = new Int32Array(boxes.length / 4);
  const f = Math.fround;
  for (let i = 0; i < out.length; i++) {
    const area = f(f(boxes[4 * i + 2] - boxes[4 * i]) * f(boxes[4 * i + 3] - boxes[4 * i + 1]));
    const level = Math.floor(f(f(canonicalLevel + f(Math.log2(f(f(Math.sqrt(area)) / canonicalScale)))) + f(1e-6)));
    out[i] = Math.min(Math.max(level, kMin), kMax) - kMin;
  }
  return out;
}
