import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { initBackend } from '@deformjs/core';
import { assertNoTensorLeak } from '@deformjs/core/testing';
import { FASTER_RCNN_MOBILE_TINY, FasterRCNN, validateFasterRcnnConfig } from '../src/index';

describe('Faster R-CNN with the MobileNet backbone', () => {
  it('puts MobileNet v1 under backbone.body, gives P2..P6 and trains; DCN stages are refused', async () => {
    await initBackend('wasm');
    const model = new FasterRCNN({ ...FASTER_RCNN_MOBILE_TINY, numClasses: 2 });
    const names = Object.keys(model.stateDict());
    expect(names).toContain('backbone.body.features.0.0.weight');
    expect(names).toContain('backbone.body.features.13.3.weight');
    expect(names.some((n) => n.includes('layer1'))).toBe(false);
    // The preset's instance norm keeps no running statistics.
    expect(names).toContain('backbone.body.features.13.4.weight');
    expect(names.some((n) => n.startsWith('backbone.body.') && n.includes('running_'))).toBe(false);
    const images = tf.randomNormal([1, 64, 64, 3], 0, 1, 'float32', 1);
    const { features, paddedSize } = model.features(images);
    expect(features.map((f) => f.shape)).toEqual([
      [1, 16, 16, 8],
      [1, 8, 8, 8],
      [1, 4, 4, 8],
      [1, 2, 2, 8],
      [1, 1, 1, 8],
    ]);
    expect(paddedSize).toEqual([64, 64]);
    const targets = [{ boxes: Float32Array.of(8, 8, 40, 36), labels: Int32Array.of(1) }];
    const loss = await assertNoTensorLeak(() =>
      tf.tidy(() => tf.addN(Object.values(model.loss(images, [[64, 64]], targets)))),
    );
    expect(Number.isFinite(loss.dataSync()[0])).toBe(true);
    expect(() =>
      validateFasterRcnnConfig({ ...FASTER_RCNN_MOBILE_TINY, dcn: { stages: 'c3-c5', version: 2, deformGroups: 1 } }),
    ).toThrow(/FasterRCNN.*config.dcn.stages.*'none' with the MobileNet backbone.*c3-c5/);
    expect(() =>
      validateFasterRcnnConfig({
        ...FASTER_RCNN_MOBILE_TINY,
        backbone: { ...FASTER_RCNN_MOBILE_TINY.backbone, arch: 'vgg' as 'resnet' },
      }),
    ).toThrow(/FasterRCNN.*config.backbone.arch/);
    expect(() =>
      validateFasterRcnnConfig({
        ...FASTER_RCNN_MOBILE_TINY,
        backbone: { arch: 'resnet', depth: 50, width: 8, norm: 'instance', sparse: { lossWeight: 1 } },
      }),
    ).toThrow(/FasterRCNN.*config.backbone.norm.*frozen.*batch.*instance/);
    tf.dispose([images, loss, ...features]);
    model.dispose();
  });
});
