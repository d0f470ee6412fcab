import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { initBackend } from '@deformjs/core';
import { assertAllClose } from '@deformjs/core/testing';
import { encodeTorchStateDict, readSafetensors } from '@deformjs/weights';
import { DEFORMABLE_DETR_SMALL, DeformableDETR, disposeOutputs } from '../src/index';
import { fixturePath, nhwc } from './helpers';

// Made by scripts/check_torch_export.py: PyTorch loaded our export of DEFORMABLE_DETR_SMALL (seed 0) with
// load_state_dict(strict=True) into the port of upstream's model and ran this batch.
interface TorchExportFixture {
  images_nchw: number[][][][];
  mask: number[][][];
  state_dict_shapes: Record<string, number[]>;
  pred_logits: number[][][];
  pred_boxes: number[][][];
}

describe('export to PyTorch', () => {
  it('DEFORMABLE_DETR_SMALL exports the key set and shapes PyTorch loaded strictly, and its outputs', async () => {
    await initBackend('cpu');
    const f = JSON.parse(readFileSync(fixturePath('torch-export-small.json'), 'utf8')) as TorchExportFixture;
    const model = new DeformableDETR(DEFORMABLE_DETR_SMALL);
    model.eval();
    const { tensors, metadata } = readSafetensors(encodeTorchStateDict(model), 'export');
    expect(metadata).toEqual({ format: 'pt' });
    const shapes = Object.fromEntries(Object.entries(tensors).map(([name, t]) => [name, t.shape]));
    expect(shapes).toEqual(f.state_dict_shapes);

    const images = nhwc(f.images_nchw);
    const mask = tf.tensor3d(f.mask, undefined, 'bool');
    const out = model.forward(images, mask);
    assertAllClose(out.predLogits, f.pred_logits.flat(2), { atol: 1e-4, rtol: 1e-4, name: 'pred_logits' });
    assertAllClose(out.predBoxes, f.pred_boxes.flat(2), { atol: 1e-4, rtol: 1e-4, name: 'pred_boxes' });
    disposeOutputs(out);
    tf.dispose([images, mask]);
    model.dispose();
  });
});
