import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { initBackend } from '@deformjs/core';
import { TEST_BACKENDS, assertAllClose, assertNoTensorLeak } from '@deformjs/core/testing';
import { DETR, disposeOutputs, type DetrConfig } from '../src/index';
import { fixturePath, loadPth, nhwc, sharedConfigOf, type ParityFixture, type SharedFixtureConfig } from './helpers';

interface DetrFixture extends Pick<
  ParityFixture,
  'images_nchw' | 'mask' | 'pred_logits' | 'pred_boxes' | 'aux_logits' | 'aux_boxes'
> {
  config: SharedFixtureConfig;
}

const fixture = JSON.parse(readFileSync(fixturePath('parity-detr.json'), 'utf8')) as DetrFixture;

function configOf({ config }: DetrFixture): DetrConfig {
  return sharedConfigOf(config);
}

// scripts/make_detr_parity_fixture.py: facebookresearch/detr's structure (C5, 1x1 input_proj, sine embedding
// without the -0.5 shift, nn.MultiheadAttention post-norm layers, shared decoder norm) in float64.
for (const backend of TEST_BACKENDS) {
  describe(`DETR with official weights on ${backend}`, () => {
    it('pred_logits, pred_boxes and every aux output match PyTorch to 1e-4', async () => {
      await initBackend(backend);
      const f = fixture;
      const model = new DETR(configOf(f));
      loadPth(model, 'parity-detr.pth');
      model.eval();
      const images = nhwc(f.images_nchw);
      const mask = tf.tensor3d(f.mask, undefined, 'bool');
      const out = await assertNoTensorLeak(() => model.forward(images, mask));
      const tol = { atol: 1e-4, rtol: 1e-4 };
      expect(out.predLogits.shape).toEqual([2, f.config.num_queries, f.config.num_classes + 1]);
      assertAllClose(out.predLogits, f.pred_logits.flat(2), { ...tol, name: 'pred_logits' });
      assertAllClose(out.predBoxes, f.pred_boxes.flat(2), { ...tol, name: 'pred_boxes' });
      expect(out.aux).toHaveLength(f.config.dec_layers - 1);
      out.aux.forEach((a, i) => {
        assertAllClose(a.predLogits, f.aux_logits[i].flat(2), { ...tol, name: `aux_logits[${i}]` });
        assertAllClose(a.predBoxes, f.aux_boxes[i].flat(2), { ...tol, name: `aux_boxes[${i}]` });
      });
      expect(out.enc).toBeUndefined();
      disposeOutputs(out);
      tf.dispose([images, mask]);
      model.dispose();
    });
  });
}
