import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { initBackend } from '@deformjs/core';
import { TEST_BACKENDS, assertAllClose, assertNoTensorLeak } from '@deformjs/core/testing';
import { DeformableDETR, disposeOutputs } from '../src/index';
import { configOf, loadPth, nhwc, parityFixture } from './helpers';

const VARIANTS = ['multiscale', 'single-scale', 'refine-two-stage'] as const;

for (const backend of TEST_BACKENDS) {
  describe(`official weights on ${backend}`, () => {
    for (const variant of VARIANTS) {
      it(`${variant}: pred_logits, pred_boxes and the auxiliary outputs match PyTorch to 1e-4`, async () => {
        await initBackend(backend);
        const f = parityFixture(variant);
        const model = new DeformableDETR(configOf(f));
        loadPth(model, `parity-${variant}.pth`);
        model.eval();
        const images = nhwc(f.images_nchw);
        const mask = tf.tensor3d(f.mask, undefined, 'bool');
        const out = await assertNoTensorLeak(() => model.forward(images, mask));
        const tol = { atol: 1e-4, rtol: 1e-4 };
        assertAllClose(out.predLogits, f.pred_logits.flat(2), { ...tol, name: 'pred_logits' });
        assertAllClose(out.predBoxes, f.pred_boxes.flat(2), { ...tol, name: 'pred_boxes' });
        expect(out.aux).toHaveLength(f.aux_logits.length);
        out.aux.forEach((a, i) => {
          assertAllClose(a.predLogits, f.aux_logits[i].flat(2), { ...tol, name: `aux_logits[${i}]` });
          assertAllClose(a.predBoxes, f.aux_boxes[i].flat(2), { ...tol, name: `aux_boxes[${i}]` });
        });
        if (f.enc_logits) {
          assertAllClose(out.enc!.predLogits, f.enc_logits.flat(2), { ...tol, name: 'enc_logits' });
          assertAllClose(out.enc!.predBoxes, f.enc_boxes!.flat(2), { ...tol, name: 'enc_boxes' });
        } else {
          expect(out.enc).toBeUndefined();
        }
        disposeOutputs(out);
        tf.dispose([images, mask]);
        model.dispose();
      });
    }
  });
}
