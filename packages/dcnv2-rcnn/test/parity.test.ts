import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@deformjs/core';
import { TEST_BACKENDS, assertAllClose } from '@deformjs/core/testing';
import { loadWeights, readPth, stateDictOf } from '@deformjs/weights';
import { FASTER_RCNN_SMALL, FasterRCNN, type FasterRcnnConfig } from '../src/index';

const fixturePath = (name: string) => new URL(`./fixtures/${name}`, import.meta.url).pathname;

interface ParityFixture {
  config: {
    width: number;
    fpn_channels: number;
    representation_size: number;
    num_classes: number;
    anchor_sizes: number[];
    aspect_ratios: number[];
    canonical_scale: number;
  };
  images_nchw: number[][][][];
  features_nchw: number[][][][][];
  objectness_nchw: number[][][][][];
  deltas_nchw: number[][][][][];
  proposals: number[][][];
  levels: number[];
  pooled_nchw: number[][][][];
  class_logits: number[][];
  box_regression: number[][];
}

const fixture = JSON.parse(readFileSync(fixturePath('parity.json'), 'utf8')) as ParityFixture;

/** The fixture script's torchvision FasterRCNN as our configuration. */
function fixtureConfig(): FasterRcnnConfig {
  const c = fixture.config;
  return {
    ...FASTER_RCNN_SMALL,
    backbone: { depth: 18, width: c.width, norm: 'frozen' },
    fpnChannels: c.fpn_channels,
    numClasses: c.num_classes,
    anchorSizes: c.anchor_sizes,
    aspectRatios: c.aspect_ratios,
    roi: { ...FASTER_RCNN_SMALL.roi, canonicalScale: c.canonical_scale, representationSize: c.representation_size },
  };
}

const nhwc = (x: number[][][][]) => tf.tidy(() => tf.transpose(tf.tensor4d(x), [0, 2, 3, 1]));
const close = (actual: tf.Tensor, expected: tf.Tensor | number[] | number[][], name: string) =>
  assertAllClose(actual, expected instanceof tf.Tensor ? expected : tf.tensor(expected), {
    atol: 1e-4,
    rtol: 1e-4,
    name,
  });

for (const backend of TEST_BACKENDS) {
  describe(`torchvision Faster R-CNN parity (${backend})`, () => {
    let model: FasterRCNN;
    let features: tf.Tensor[];
    const rois = Float32Array.from(fixture.proposals.flatMap((boxes, b) => boxes.flatMap((box) => [b, ...box])));

    beforeAll(async () => {
      await initBackend(backend);
      model = new FasterRCNN(fixtureConfig());
      const dict = stateDictOf(readPth(new Uint8Array(readFileSync(fixturePath('parity.pth'))), 'parity.pth'));
      loadWeights(model, dict, { strict: true });
      model.eval();
      const images = nhwc(fixture.images_nchw);
      features = model.backbone.forward(images);
      images.dispose();
    });
    afterAll(() => {
      tf.dispose(features);
      model.dispose();
    });

    it('loads the state_dict strictly and matches the FPN features P2..P6', () => {
      features.forEach((f, level) => {
        const expected = nhwc(fixture.features_nchw[level]);
        close(f, expected, `P${level + 2}`);
        expected.dispose();
      });
    });

    it('matches the RPN objectness and box deltas over every anchor', () => {
      const { objectness, deltas } = model.rpn.head.forward(features);
      const expectedObjectness = tf.tidy(() =>
        tf.concat(
          fixture.objectness_nchw.map((o) => tf.reshape(nhwc(o), [o.length, -1])),
          1,
        ),
      );
      const expectedDeltas = tf.tidy(() =>
        tf.concat(
          fixture.deltas_nchw.map((d) => tf.reshape(nhwc(d), [d.length, -1, 4])),
          1,
        ),
      );
      close(objectness, expectedObjectness, 'objectness');
      close(deltas, expectedDeltas, 'deltas');
      tf.dispose([objectness, deltas, expectedObjectness, expectedDeltas]);
    });

    it('maps the RoIs to their FPN levels and pools them as MultiScaleRoIAlign', () => {
      expect(Array.from(model.roiHeads.boxRoiPool.levels(rois))).toEqual(fixture.levels);
      const pooled = model.roiHeads.boxRoiPool.forward(features, rois);
      const expected = nhwc(fixture.pooled_nchw);
      close(pooled, expected, 'pooled');
      tf.dispose([pooled, expected]);
    });

    it('matches the box head logits and per-class deltas for given proposals', () => {
      const boxFeatures = model.roiHeads.boxFeatures(features, rois);
      const { classLogits, boxRegression } = model.roiHeads.boxPredictor.forward(boxFeatures);
      close(classLogits, fixture.class_logits, 'class_logits');
      close(boxRegression, fixture.box_regression, 'box_regression');
      tf.dispose([boxFeatures, classLogits, boxRegression]);
    });
  });
}
