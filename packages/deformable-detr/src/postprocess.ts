import * as tf from '@tensorflow/tfjs-core';
import { argumentError } from '@deformjs/core';
import type { Predictions } from './misc';
import type { ClassificationKind } from './matcher';

/** One image's detections: `boxes` K x 4 as (x1, y1, x2, y2) pixels of the image size given. */
export interface Detections {
  scores: Float32Array;
  labels: Int32Array;
  boxes: Float32Array;
}

/**
 * PostProcess: Deformable DETR ('focal') keeps the top `topK` (100) of all queries x classes by sigmoid
 * score; DETR ('softmax') keeps every query with its best real class. Boxes are scaled from normalised
 * (cx, cy, w, h) to xyxy pixels of each `[height, width]` in `targetSizes`.
 */
export function postProcess(
  pred: Predictions,
  targetSizes: readonly (readonly [number, number])[],
  options: { kind?: ClassificationKind; topK?: number } = {},
): Detections[] {
  const { kind = 'focal', topK = 100 } = options;
  const [n, q, c] = pred.predLogits.shape;
  if (targetSizes.length !== n)
    throw argumentError(
      'postProcess',
      'targetSizes',
      `one [height, width] per image (${n})`,
      `${targetSizes.length} sizes`,
    );
  const probTensor = tf.tidy(() => (kind === 'focal' ? tf.sigmoid(pred.predLogits) : tf.softmax(pred.predLogits)));
  const probs = probTensor.dataSync();
  probTensor.dispose();
  const boxes = pred.predBoxes.dataSync();
  return targetSizes.map(([height, width], b) => {
    const picks: { score: number; query: number; label: number }[] = [];
    if (kind === 'focal') {
      const offset = b * q * c;
      const order = Array.from({ length: q * c }, (_, i) => i).sort(
        (x, y) => probs[offset + y] - probs[offset + x] || x - y,
      );
      for (const i of order.slice(0, topK))
        picks.push({ score: probs[offset + i], query: Math.floor(i / c), label: i % c });
    } else {
      for (let query = 0; query < q; query++) {
        let label = 0;
        for (let k = 1; k < c - 1; k++)
          if (probs[(b * q + query) * c + k] > probs[(b * q + query) * c + label]) label = k;
        picks.push({ score: probs[(b * q + query) * c + label], query, label });
      }
    }
    const out: Detections = {
      scores: new Float32Array(picks.length),
      labels: new Int32Array(picks.length),
      boxes: new Float32Array(picks.length * 4),
    };
    picks.forEach(({ score, query, label }, i) => {
      const o = (b * q + query) * 4;
      const [cx, cy, w, h] = [boxes[o], boxes[o + 1], boxes[o + 2], boxes[o + 3]];
      out.scores[i] = score;
      out.labels[i] = label;
      out.boxes.set([(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height], i * 4);
    });
    return out;
  });
}

/** COCO result records ([x, y, w, h] boxes); `categoryIds[label]` is the COCO category id of a label. */
export function toCocoResults(
  detections: Detections,
  imageId: number,
  categoryIds: readonly number[],
): { image_id: number; category_id: number; bbox: number[]; score: number }[] {
  return Array.from(detections.scores, (score, i) => {
    const [x1, y1, x2, y2] = detections.boxes.subarray(4 * i, 4 * i + 4);
    return {
      image_id: imageId,
      category_id: categoryIds[detections.labels[i]],
      bbox: [x1, y1, x2 - x1, y2 - y1],
      score,
    };
  });
}
