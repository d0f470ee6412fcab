import * as tf from '@tensorflow/tfjs-core';
// After tfjs-core itself: imported first, it leaves tfjs's chained ops (tensor.clone) unset.
import { describe, expect, it } from 'vitest';
import { initBackend } from '@deformjs/core';
import { TEST_BACKENDS, assertAllClose, assertNoTensorLeak } from '@deformjs/core/testing';
import { roiAlign } from '../src/index';
import { fixture } from './helpers';

const fx = fixture('roi_align.json');

for (const backend of TEST_BACKENDS) {
  describe(`roiAlign on ${backend}`, () => {
    for (const c of fx.cases as Array<{
      aligned: boolean;
      samplingRatio: number;
      out: number[];
      g: number[];
      dfeat: number[];
    }>) {
      it(`equals torchvision.ops.roi_align (aligned ${c.aligned}, sampling_ratio ${c.samplingRatio}) with its input gradient`, async () => {
        await initBackend(backend);
        const feat = tf.tensor(fx.feat, [2, 9, 11, 3]);
        const rois = tf.tensor(fx.rois, [5, 5]);
        const g = tf.tensor(c.g, [5, 3, 2, 3]);
        const options = { spatialScale: fx.spatialScale, samplingRatio: c.samplingRatio, aligned: c.aligned };
        await assertNoTensorLeak(() => {
          const out = roiAlign(feat, rois, [3, 2], options);
          expect(out.shape).toEqual([5, 3, 2, 3]);
          assertAllClose(out, c.out, { atol: 1e-5, name: 'output' });
          const dfeat = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(roiAlign(x, rois, [3, 2], options), g)))(feat);
          assertAllClose(dfeat, c.dfeat, { atol: 1e-5, name: 'input gradient' });
          tf.dispose([out, dfeat]);
        });
        tf.dispose([feat, rois, g]);
      });
    }
  });
}

describe('roiAlign arguments', () => {
  it('takes per-image box lists, handles no boxes and names bad arguments', async () => {
    await initBackend('cpu');
    const feat = tf.tensor(fx.feat, [2, 9, 11, 3]);
    const rois = tf.tensor(fx.rois, [5, 5]);
    const rows = fx.rois as number[];
    const perImage = [0, 1].map((b) => {
      const mine = [0, 1, 2, 3, 4].filter((k) => rows[5 * k] === b).flatMap((k) => rows.slice(5 * k + 1, 5 * k + 5));
      return tf.tensor(mine, [mine.length / 4, 4]);
    });
    const a = roiAlign(feat, perImage, 2, { spatialScale: 0.5 });
    const order = [0, 1, 2, 3, 4].sort((i, j) => rows[5 * i] - rows[5 * j] || i - j);
    const b = tf.gather(roiAlign(feat, rois, 2, { spatialScale: 0.5 }), order);
    assertAllClose(a, b, { atol: 0, rtol: 0 });
    expect(roiAlign(feat, tf.zeros([0, 5]), 2).shape).toEqual([0, 2, 2, 3]);
    expect(() => roiAlign(feat, tf.tensor([[2, 0, 0, 1, 1]]), 2)).toThrow(
      /roiAlign: argument 'boxes' expected batch indices in \[0, 2\), got "2 in row 0"/,
    );
    expect(() => roiAlign(feat, tf.zeros([3, 4]), 2)).toThrow(
      /roiAlign: argument 'boxes' expected rank 2, shape \[\*, 5\]|argument 'boxes' expected shape \[\*, 5\]/,
    );
    expect(() => roiAlign(feat, rois, 2, { spatialScale: 0 })).toThrow(
      /argument 'spatialScale' expected a finite number > 0/,
    );
    tf.dispose([feat, rois, a, b, ...perImage]);
  });
});
