import * as tf from '@tensorflow/tfjs-core';
import { checkShapes } from '@deformjs/core';

/** (cx, cy, w, h) -> (x1, y1, x2, y2) on the last axis. */
export function boxCxcywhToXyxy(boxes: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const [cx, cy, w, h] = tf.unstack(boxes, -1);
    return tf.stack(
      [tf.sub(cx, tf.mul(w, 0.5)), tf.sub(cy, tf.mul(h, 0.5)), tf.add(cx, tf.mul(w, 0.5)), tf.add(cy, tf.mul(h, 0.5))],
      -1,
    );
  });
}

/** (x1, y1, x2, y2) -> (cx, cy, w, h) on the last axis. */
export function boxXyxyToCxcywh(boxes: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const [x1, y1, x2, y2] = tf.unstack(boxes, -1);
    return tf.stack([tf.mul(tf.add(x1, x2), 0.5), tf.mul(tf.add(y1, y2), 0.5), tf.sub(x2, x1), tf.sub(y2, y1)], -1);
  });
}

export function boxArea(boxes: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const [x1, y1, x2, y2] = tf.unstack(boxes, -1);
    return tf.mul(tf.sub(x2, x1), tf.sub(y2, y1));
  });
}

/** w * h of [N, M, 2] extents (tf.prod's gradient fails on a negative axis). */
function product(wh: tf.Tensor): tf.Tensor {
  const [w, h] = tf.unstack(wh, 2);
  return tf.mul(w, h);
}

function pairwise(op: string, a: tf.Tensor, b: tf.Tensor) {
  checkShapes(op, [
    { name: 'boxes1', shape: a.shape, expected: [null, 4] },
    { name: 'boxes2', shape: b.shape, expected: [null, 4] },
  ]);
  // Broadcast explicitly: tfjs's Maximum/Minimum gradients do not reduce over broadcast axes.
  const shape = [a.shape[0], b.shape[0], 4];
  const a1 = tf.broadcastTo(tf.expandDims(a, 1), shape);
  const b1 = tf.broadcastTo(tf.expandDims(b, 0), shape);
  const lt = tf.maximum(tf.slice(a1, [0, 0, 0], [-1, -1, 2]), tf.slice(b1, [0, 0, 0], [-1, -1, 2]));
  const rb = tf.minimum(tf.slice(a1, [0, 0, 2], [-1, -1, 2]), tf.slice(b1, [0, 0, 2], [-1, -1, 2]));
  const wh = tf.relu(tf.sub(rb, lt));
  const inter = product(wh);
  const union = tf.sub(tf.add(tf.expandDims(boxArea(a), 1), tf.expandDims(boxArea(b), 0)), inter);
  return { a1, b1, inter, union };
}

/** torchvision.ops.box_iou: pairwise IoU [N, M] of xyxy boxes [N, 4] and [M, 4]. */
export function boxIou(boxes1: tf.Tensor, boxes2: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const { inter, union } = pairwise('boxIou', boxes1, boxes2);
    return tf.div(inter, union);
  });
}

/**
 * Generalized IoU (Rezatofighi et al. 2019; torchvision.ops.generalized_box_iou, DETR's util): pairwise
 * [N, M] for xyxy boxes, IoU - (enclosing area - union) / enclosing area, differentiable in both inputs.
 * Boxes must be well formed (x2 >= x1, y2 >= y1); degenerate boxes give NaN or wrong values, as in PyTorch.
 */
export function generalizedBoxIou(boxes1: tf.Tensor, boxes2: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const { a1, b1, inter, union } = pairwise('generalizedBoxIou', boxes1, boxes2);
    const iou = tf.div(inter, union);
    const lt = tf.minimum(tf.slice(a1, [0, 0, 0], [-1, -1, 2]), tf.slice(b1, [0, 0, 0], [-1, -1, 2]));
    const rb = tf.maximum(tf.slice(a1, [0, 0, 2], [-1, -1, 2]), tf.slice(b1, [0, 0, 2], [-1, -1, 2]));
    const area = product(tf.relu(tf.sub(rb, lt)));
    return tf.sub(iou, tf.div(tf.sub(area, union), area));
  });
}

/** Generalized IoU of matched pairs: boxes1[i] with boxes2[i], [N] (the diagonal of the pairwise matrix, for losses). */
export function generalizedBoxIouPaired(boxes1: tf.Tensor, boxes2: tf.Tensor): tf.Tensor {
  checkShapes('generalizedBoxIouPaired', [
    { name: 'boxes1', shape: boxes1.shape, expected: ['N', 4] },
    { name: 'boxes2', shape: boxes2.shape, expected: ['N', 4] },
  ]);
  return tf.tidy(() => {
    const [ax1, ay1, ax2, ay2] = tf.unstack(boxes1, 1);
    const [bx1, by1, bx2, by2] = tf.unstack(boxes2, 1);
    const inter = tf.mul(
      tf.relu(tf.sub(tf.minimum(ax2, bx2), tf.maximum(ax1, bx1))),
      tf.relu(tf.sub(tf.minimum(ay2, by2), tf.maximum(ay1, by1))),
    );
    const union = tf.sub(
      tf.add(tf.mul(tf.sub(ax2, ax1), tf.sub(ay2, ay1)), tf.mul(tf.sub(bx2, bx1), tf.sub(by2, by1))),
      inter,
    );
    const area = tf.mul(
      tf.relu(tf.sub(tf.maximum(ax2, bx2), tf.minimum(ax1, bx1))),
      tf.relu(tf.sub(tf.maximum(ay2, by2), tf.minimum(ay1, by1))),
    );
    return tf.sub(tf.div(inter, union), tf.div(tf.sub(area, union), area));
  });
}

/**
 * torchvision's BoxCoder (Faster R-CNN): xyxy boxes <-> deltas (dx, dy, dw, dh) relative to reference boxes,
 * scaled by `weights` (RPN (1, 1, 1, 1), box head (10, 10, 5, 5)); decoded dw, dh are clamped at
 * log(1000 / 16) so exp cannot overflow. Both directions are differentiable tf ops on [N, 4].
 */
export class BoxCoder {
  constructor(
    readonly weights: [number, number, number, number],
    readonly bboxXformClip = Math.log(1000 / 16),
  ) {}

  /** Deltas that move `reference` [N, 4] onto `targets` [N, 4]. */
  encode(targets: tf.Tensor, reference: tf.Tensor): tf.Tensor {
    checkShapes('BoxCoder.encode', [
      { name: 'targets', shape: targets.shape, expected: ['N', 4] },
      { name: 'reference', shape: reference.shape, expected: ['N', 4] },
    ]);
    const [wx, wy, ww, wh] = this.weights;
    return tf.tidy(() => {
      const r = centres(reference);
      const t = centres(targets);
      return tf.stack(
        [
          tf.mul(tf.div(tf.sub(t.cx, r.cx), r.w), wx),
          tf.mul(tf.div(tf.sub(t.cy, r.cy), r.h), wy),
          tf.mul(tf.log(tf.div(t.w, r.w)), ww),
          tf.mul(tf.log(tf.div(t.h, r.h)), wh),
        ],
        1,
      );
    });
  }

  /** Boxes [N, 4] from `deltas` [N, 4] applied to `reference` [N, 4]. */
  decode(deltas: tf.Tensor, reference: tf.Tensor): tf.Tensor {
    checkShapes('BoxCoder.decode', [
      { name: 'deltas', shape: deltas.shape, expected: ['N', 4] },
      { name: 'reference', shape: reference.shape, expected: ['N', 4] },
    ]);
    const [wx, wy, ww, wh] = this.weights;
    return tf.tidy(() => {
      const r = centres(reference);
      const [dx, dy, dw, dh] = tf.unstack(deltas, 1);
      const cx = tf.add(tf.mul(tf.div(dx, wx), r.w), r.cx);
      const cy = tf.add(tf.mul(tf.div(dy, wy), r.h), r.cy);
      const halfW = tf.mul(tf.mul(tf.exp(tf.minimum(tf.div(dw, ww), this.bboxXformClip)), r.w), 0.5);
      const halfH = tf.mul(tf.mul(tf.exp(tf.minimum(tf.div(dh, wh), this.bboxXformClip)), r.h), 0.5);
      return tf.stack([tf.sub(cx, halfW), tf.sub(cy, halfH), tf.add(cx, halfW), tf.add(cy, halfH)], 1);
    });
  }
}

function centres(boxes: tf.Tensor) {
  const [x1, y1, x2, y2] = tf.unstack(boxes, 1);
  const w = tf.sub(x2, x1);
  const h = tf.sub(y2, y1);
  return { w, h, cx: tf.add(x1, tf.mul(w, 0.5)), cy: tf.add(y1, tf.mul(h, 0.5)) };
}
