import * as tf from '@tensorflow/tfjs-core';
// After tfjs-core itself: imported first, it leaves tfjs's chained ops (tensor.clone) unset.
import { describe, expect, it } from 'vitest';
import { initBackend } from '@deformjs/core';
import { TEST_BACKENDS, assertAllClose, assertNoTensorLeak, numericalGradient } from '@deformjs/core/testing';
import {
  AnchorGenerator,
  BoxCoder,
  batchedNms,
  boxCxcywhToXyxy,
  boxIou,
  boxXyxyToCxcywh,
  generalizedBoxIou,
  generalizedBoxIouPaired,
  nms,
} from '../src/index';
import { fixture } from './helpers';

const giou = fixture('giou.json');

for (const backend of TEST_BACKENDS) {
  describe(`box ops on ${backend}`, () => {
    it("generalized IoU and IoU equal torchvision's, with its gradients", async () => {
      await initBackend(backend);
      const a = tf.tensor(giou.a, [4, 4]);
      const b = tf.tensor(giou.b, [3, 4]);
      const g = tf.tensor(giou.g, [4, 3]);
      await assertNoTensorLeak(() => {
        const value = generalizedBoxIou(a, b);
        assertAllClose(value, giou.giou, { atol: 1e-6, name: 'giou' });
        const iou = boxIou(a, b);
        assertAllClose(iou, giou.iou, { atol: 1e-6, name: 'iou' });
        const [da, db] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(generalizedBoxIou(x, y), g)))([a, b]);
        assertAllClose(da, giou.da, { atol: 1e-5, name: 'd giou / d boxes1' });
        assertAllClose(db, giou.db, { atol: 1e-5, name: 'd giou / d boxes2' });
        tf.dispose([value, iou, da, db]);
      });
      // The paired form is the diagonal, and its gradient matches finite differences.
      const b4 = tf.concat([b, tf.slice(a, [0, 0], [1, 4])]);
      const paired = generalizedBoxIouPaired(a, b4);
      const full = generalizedBoxIou(a, b4);
      assertAllClose(
        paired,
        Array.from({ length: 4 }, (_, i) => full.dataSync()[i * 4 + i]),
        { atol: 1e-6 },
      );
      const f = (x: Float32Array) =>
        tf.tidy(() => tf.sum(generalizedBoxIouPaired(tf.tensor(x, [4, 4]), b4)).dataSync()[0]);
      const analytic = tf.grad((x: tf.Tensor) => tf.sum(generalizedBoxIouPaired(x, b4)))(a);
      assertAllClose(analytic, numericalGradient(f, a.dataSync(), 1e-3), {
        atol: 2e-3,
        rtol: 1e-2,
        name: 'paired gradient',
      });
      tf.dispose([a, b, g, b4, paired, full, analytic]);
    });
  });
}

describe('box conversions, NMS, anchors', () => {
  it('converts cxcywh <-> xyxy and refuses wrong shapes', async () => {
    await initBackend('cpu');
    const c = tf.tensor([[0.5, 0.5, 0.2, 0.4]]);
    const xyxy = boxCxcywhToXyxy(c);
    assertAllClose(xyxy, [0.4, 0.3, 0.6, 0.7], { atol: 1e-7 });
    assertAllClose(boxXyxyToCxcywh(xyxy), c.dataSync(), { atol: 1e-7 });
    expect(() => boxIou(tf.zeros([2, 3]), tf.zeros([2, 4]))).toThrow(
      /boxIou: argument 'boxes1' expected shape \[\*, 4\]/,
    );
  });

  it("batched NMS keeps torchvision's boxes in torchvision's order", () => {
    const fx = fixture('nms.json');
    expect(Array.from(batchedNms(fx.boxes, fx.scores, fx.classes, 0.5))).toEqual(fx.keep);
    expect(Array.from(nms(fx.boxes, fx.scores, 0.3))).toEqual(fx.keepSingle);
    expect(() => batchedNms([0, 0, 1], [1], null, 0.5)).toThrow(/expected 1 x 4 values/);
  });

  it("BoxCoder encodes and decodes as torchvision's, clamping large size deltas", async () => {
    await initBackend('cpu');
    const fx = fixture('box_coder.json');
    const coder = new BoxCoder([10, 10, 5, 5]);
    const proposals = tf.tensor(fx.proposals, [6, 4]);
    const gt = tf.tensor(fx.gt, [6, 4]);
    const deltas = tf.tensor(fx.deltas, [6, 4]);
    await assertNoTensorLeak(() => {
      const codes = coder.encode(gt, proposals);
      assertAllClose(codes, fx.codes, { atol: 1e-5, name: 'encode' });
      const decoded = coder.decode(deltas, proposals);
      assertAllClose(decoded, fx.decoded, { atol: 1e-4, rtol: 1e-5, name: 'decode' });
      const roundTrip = coder.decode(codes, proposals);
      assertAllClose(roundTrip, gt, { atol: 1e-4, name: 'round trip' });
      tf.dispose([codes, decoded, roundTrip]);
    });
    tf.dispose([proposals, gt, deltas]);
  });

  it("generates torchvision's anchors", () => {
    const gen = new AnchorGenerator(
      [[32], [64, 96]],
      [
        [0.5, 1, 2],
        [0.5, 1],
      ],
    );
    expect(gen.numAnchorsPerLocation()).toEqual([3, 4]);
    const anchors = gen.generate(
      [64, 80],
      [
        [16, 20],
        [8, 10],
      ],
    );
    assertAllClose(anchors, fixture('anchors.json').anchors, { atol: 0, rtol: 0 });
  });
});
