import * as tf from '@tensorflow/tfjs-core';

type Input = tf.Tensor | ArrayLike<number>;

function values(x: Input): ArrayLike<number> {
  return x instanceof tf.Tensor ? x.dataSync() : x;
}

/**
 * torchvision.ops.batched_nms: greedy non-maximum suppression within each class. Boxes are xyxy [N, 4];
 * a box is dropped when its IoU with a kept, higher-scoring box of the same class exceeds `iouThreshold`.
 * Returns the kept indices by decreasing score (ties keep input order).
 */
export function batchedNms(boxes: Input, scores: Input, classes: Input | null, iouThreshold: number): Int32Array {
  const b = values(boxes);
  const s = values(scores);
  const n = s.length;
  if (b.length !== 4 * n)
    throw new Error(`batchedNms: argument 'boxes' expected ${n} x 4 values (one box per score), got ${b.length}`);
  const c = classes === null ? null : values(classes);
  if (c !== null && c.length !== n)
    throw new Error(`batchedNms: argument 'classes' expected ${n} values, got ${c.length}`);
  if (!(iouThreshold >= 0))
    throw new Error(`batchedNms: argument 'iouThreshold' expected a number >= 0, got ${iouThreshold}`);
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => s[j] - s[i] || i - j);
  const area = new Float64Array(n);
  for (let i = 0; i < n; i++) area[i] = (b[4 * i + 2] - b[4 * i]) * (b[4 * i + 3] - b[4 * i + 1]);
  // Only boxes of one class compete: walk each class's boxes in score order.
  const byClass = new Map<number, number[]>();
  for (const i of order) {
    const key = c === null ? 0 : c[i];
    let list = byClass.get(key);
    if (!list) byClass.set(key, (list = []));
    list.push(i);
  }
  const kept = new Uint8Array(n);
  for (const list of byClass.values()) {
    const suppressed = new Uint8Array(list.length);
    for (let a = 0; a < list.length; a++) {
      if (suppressed[a]) continue;
      const i = list[a];
      kept[i] = 1;
      for (let k = a + 1; k < list.length; k++) {
        if (suppressed[k]) continue;
        const j = list[k];
        const w = Math.min(b[4 * i + 2], b[4 * j + 2]) - Math.max(b[4 * i], b[4 * j]);
        const h = Math.min(b[4 * i + 3], b[4 * j + 3]) - Math.max(b[4 * i + 1], b[4 * j + 1]);
        const inter = Math.max(0, w) * Math.max(0, h);
        if (inter / (area[i] + area[j] - inter) > iouThreshold) suppressed[k] = 1;
      }
    }
  }
  return Int32Array.from(order.filter((i) => kept[i]));
}

/** torchvision.ops.nms: batchedNms with every box in one class. */
export function nms(boxes: Input, scores: Input, iouThreshold: number): Int32Array {
  return batchedNms(boxes, scores, null, iouThreshold);
}
