import { argumentError, assertOneOf } from '@deformjs/core';
import { linearSumAssignment } from '@deformjs/metrics';

/** One image's ground truth: `boxes` N x 4 normalised (cx, cy, w, h) of the unpadded image, `labels` 0..C-1. */
export interface DetectionTarget {
  boxes: Float32Array;
  labels: Int32Array;
}

/** How predictions are scored: Deformable DETR's sigmoid focal ('focal') or DETR's softmax with "no object". */
export type ClassificationKind = 'focal' | 'softmax';

export interface MatcherOptions {
  kind?: ClassificationKind;
  /** Weights of the class, L1 and GIoU costs (Deformable DETR: 2, 5, 2; DETR: 1, 5, 2). */
  costClass?: number;
  costBbox?: number;
  costGiou?: number;
  focalAlpha?: number;
  focalGamma?: number;
}

/** For one image: matched query indices (ascending) and the ground-truth index each is matched to. */
export interface Match {
  queries: Int32Array;
  targets: Int32Array;
}

function xyxy(b: ArrayLike<number>, o: number): [number, number, number, number] {
  const [cx, cy, w, h] = [b[o], b[o + 1], b[o + 2], b[o + 3]];
  return [cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h];
}

/** Generalized IoU of two xyxy boxes (torchvision's generalized_box_iou for one pair). */
export function giouPair(a: readonly number[], b: readonly number[]): number {
  const areaA = (a[2] - a[0]) * (a[3] - a[1]);
  const areaB = (b[2] - b[0]) * (b[3] - b[1]);
  const inter =
    Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0])) * Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const union = areaA + areaB - inter;
  const enclosing =
    Math.max(0, Math.max(a[2], b[2]) - Math.min(a[0], b[0])) * Math.max(0, Math.max(a[3], b[3]) - Math.min(a[1], b[1]));
  return inter / union - (enclosing - union) / enclosing;
}

/**
 * The matching cost [Q, T] of one image, as HungarianMatcher: weighted class cost (focal: alpha (1-p)^gamma
 * (-log p) - (1-alpha) p^gamma (-log(1-p)) at the target class; softmax: -p), L1 distance of the
 * (cx, cy, w, h) boxes and minus their generalized IoU.
 */
export function matchingCost(
  logits: ArrayLike<number>,
  boxes: ArrayLike<number>,
  q: number,
  c: number,
  target: DetectionTarget,
  options: MatcherOptions = {},
): Float64Array {
  const { kind = 'focal', costClass = 2, costBbox = 5, costGiou = 2, focalAlpha = 0.25, focalGamma = 2 } = options;
  const t = target.labels.length;
  const cost = new Float64Array(q * t);
  const probs = new Float64Array(q * c);
  for (let i = 0; i < q; i++) {
    if (kind === 'focal') {
      for (let k = 0; k < c; k++) probs[i * c + k] = 1 / (1 + Math.exp(-logits[i * c + k]));
    } else {
      let max = -Infinity;
      for (let k = 0; k < c; k++) max = Math.max(max, logits[i * c + k]);
      let sum = 0;
      for (let k = 0; k < c; k++) sum += Math.exp(logits[i * c + k] - max);
      for (let k = 0; k < c; k++) probs[i * c + k] = Math.exp(logits[i * c + k] - max) / sum;
    }
  }
  const targetXyxy = Array.from({ length: t }, (_, j) => xyxy(target.boxes, 4 * j));
  for (let i = 0; i < q; i++) {
    const predXyxy = xyxy(boxes, 4 * i);
    for (let j = 0; j < t; j++) {
      const p = probs[i * c + target.labels[j]];
      let cls: number;
      if (kind === 'focal') {
        const neg = (1 - focalAlpha) * p ** focalGamma * -Math.log(1 - p + 1e-8);
        const pos = focalAlpha * (1 - p) ** focalGamma * -Math.log(p + 1e-8);
        cls = pos - neg;
      } else {
        cls = -p;
      }
      let l1 = 0;
      for (let k = 0; k < 4; k++) l1 += Math.abs(boxes[4 * i + k] - target.boxes[4 * j + k]);
      cost[i * t + j] = costBbox * l1 + costClass * cls - costGiou * giouPair(predXyxy, targetXyxy[j]);
    }
  }
  return cost;
}

/**
 * HungarianMatcher: for each image the one-to-one assignment of queries to ground-truth objects with the
 * least total cost. `logits` [N, Q, C] and `boxes` [N, Q, 4] as flat arrays (C counts the "no object"
 * class for softmax).
 */
export function hungarianMatch(
  logits: ArrayLike<number>,
  boxes: ArrayLike<number>,
  shape: { n: number; q: number; c: number },
  targets: readonly DetectionTarget[],
  options: MatcherOptions = {},
): Match[] {
  const { n, q, c } = shape;
  assertOneOf('hungarianMatch', 'options.kind', options.kind ?? 'focal', ['focal', 'softmax']);
  if (targets.length !== n)
    throw argumentError('hungarianMatch', 'targets', `one target per image (${n})`, `${targets.length} targets`);
  return targets.map((target, b) => {
    const t = target.labels.length;
    if (target.boxes.length !== 4 * t)
      throw argumentError(
        'hungarianMatch',
        `targets[${b}].boxes`,
        `4 x ${t} numbers (one box per label)`,
        `${target.boxes.length} numbers`,
      );
    if (t === 0) return { queries: new Int32Array(0), targets: new Int32Array(0) };
    if (t > q)
      throw argumentError('hungarianMatch', `targets[${b}]`, `at most numQueries = ${q} objects`, `${t} objects`);
    const imageLogits = Float64Array.from({ length: q * c }, (_, i) => logits[b * q * c + i]);
    const imageBoxes = Float64Array.from({ length: q * 4 }, (_, i) => boxes[b * q * 4 + i]);
    const cost = matchingCost(imageLogits, imageBoxes, q, c, target, options);
    const { rowIndices, colIndices } = linearSumAssignment(cost, q, t);
    return { queries: rowIndices, targets: colIndices };
  });
}
