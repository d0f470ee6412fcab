import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend, Rng } from '@deformjs/core';
import { assertNoTensorLeak } from '@deformjs/core/testing';
import { AdamW } from '@deformjs/nn';
import { SparseResNet } from '@deformjs/sparse-interp';
import { FASTER_RCNN_R50_FPN, FasterRCNN, trainStep, validateFasterRcnnConfig } from '../src/index';
import { tinyConfig, toyBatch } from './helpers';

describe('FasterRCNN training and inference', () => {
  // Starting wasm took over two minutes beside the session's trainings (load average 20): a generous timeout.
  beforeAll(async () => {
    await initBackend('wasm');
  }, 600_000);

  it('keeps tf.memory().numTensors flat over training steps and detection (DCNv2, mdpool, mimicking)', async () => {
    const config = tinyConfig({
      dcn: { stages: 'c3-c5', version: 2, deformGroups: 4 },
      roi: { ...tinyConfig().roi, pooling: 'mdpool' },
      mimic: { cropSize: 32, roisPerImage: 2, lossWeight: 1 },
    });
    const model = new FasterRCNN(config);
    const optimizer = new AdamW([{ params: model.trainableVariables() }], { lr: 1e-3, weightDecay: 1e-4 });
    const batch = toyBatch(new Rng(3));
    trainStep(model, optimizer, batch); // creates the optimizer's moments
    await assertNoTensorLeak(() => {
      for (let i = 0; i < 2; i++) {
        const r = trainStep(model, optimizer, batch, { clipMaxNorm: 10 });
        expect(Number.isFinite(r.loss)).toBe(true);
        expect(r.components.loss_mimic).toBeGreaterThan(0);
        expect(r.components.loss_rcnn_cls).toBeGreaterThan(0);
      }
      model.eval();
      model.detect(batch.images, batch.imageSizes);
    });
    tf.dispose(batch.images);
    optimizer.dispose();
    model.dispose();
  });

  it('sparse backbone: the sparsity loss joins the losses and reaches the mask convs; detection samples; the tensor count stays flat', async () => {
    const model = new FasterRCNN(
      tinyConfig({ backbone: { depth: 50, width: 4, norm: 'batch', sparse: { lossWeight: 0.5 } } }),
    );
    const optimizer = new AdamW([{ params: model.trainableVariables() }], { lr: 1e-3, weightDecay: 0 });
    const batch = toyBatch(new Rng(5));
    const body = model.backbone.body;
    if (!(body instanceof SparseResNet)) throw new Error('expected a SparseResNet backbone');
    const maskBias = body.stages[0].blocks[0].conv1_mask.bias!;
    trainStep(model, optimizer, batch);
    await assertNoTensorLeak(() => {
      const r = trainStep(model, optimizer, batch, { clipMaxNorm: 10 });
      // At the start every mask is ~sigmoid(3) = 0.95 dense: loss = w * (0.25 + 0.75) * 0.95 (summed, / blocks).
      expect(r.components.loss_sparsity).toBeGreaterThan(0.4);
      expect(r.components.loss_sparsity).toBeLessThan(0.5);
      model.eval();
      model.detect(batch.images, batch.imageSizes);
      model.train();
    });
    // The sparsity term alone pushes the sampling probability down: its gradient in a mask conv's bias is positive.
    const gradient = tf.tidy(() => {
      const { grads } = tf.variableGrads(
        () => model.loss(batch.images, batch.imageSizes, batch.targets).loss_sparsity,
        [maskBias],
      );
      return grads[maskBias.name].dataSync()[0];
    });
    expect(gradient).toBeGreaterThan(0);
    tf.dispose(batch.images);
    optimizer.dispose();
    model.dispose();
  });

  it('the loss falls on one toy batch (plain, DCNv1)', () => {
    const model = new FasterRCNN(tinyConfig({ dcn: { stages: 'c3-c5', version: 1, deformGroups: 1 } }));
    const optimizer = new AdamW([{ params: model.trainableVariables() }], { lr: 3e-3, weightDecay: 0 });
    const batch = toyBatch(new Rng(4));
    const losses: number[] = [];
    for (let i = 0; i < 12; i++) losses.push(trainStep(model, optimizer, batch, { clipMaxNorm: 10 }).loss);
    expect(losses[losses.length - 1]).toBeLessThan(0.7 * losses[0]);
    tf.dispose(batch.images);
    optimizer.dispose();
    model.dispose();
  });

  it('trains on awkward batches: no ground truth, only crowd regions, a tiny image', () => {
    const model = new FasterRCNN(tinyConfig());
    const optimizer = new AdamW([{ params: model.trainableVariables() }], { lr: 1e-3, weightDecay: 0 });
    const images = tf.randomNormal([3, 32, 40, 3], 0, 1, 'float32', 5);
    const result = trainStep(model, optimizer, {
      images,
      imageSizes: [
        [32, 40],
        [30, 30],
        [6, 5],
      ],
      targets: [
        { boxes: new Float32Array(0), labels: new Int32Array(0) },
        {
          boxes: Float32Array.from([2, 2, 20, 20, 5, 5, 9, 9]),
          labels: Int32Array.from([0, 1]),
          iscrowd: Uint8Array.from([1, 1]),
        },
        { boxes: Float32Array.from([1, 1, 4, 5]), labels: Int32Array.from([1]) },
      ],
    });
    expect(Number.isFinite(result.loss)).toBe(true);
    // Only the tiny image has a foreground box: RPN and head regression losses come from it alone.
    expect(result.components.loss_box_reg).toBeGreaterThan(0);
    model.eval();
    const detections = model.detect(images, [
      [32, 40],
      [30, 30],
      [6, 5],
    ]);
    for (let i = 0; i < detections[2].scores.length; i++) {
      const [, , x2, y2] = detections[2].boxes.subarray(4 * i, 4 * i + 4);
      expect(x2).toBeLessThanOrEqual(5);
      expect(y2).toBeLessThanOrEqual(6);
    }
    images.dispose();
    optimizer.dispose();
    model.dispose();
  });

  it("mimicking's crops leave batch norm's running statistics where the image pass put them", () => {
    const batch = toyBatch(new Rng(7));
    const model = new FasterRCNN(tinyConfig({ mimic: { cropSize: 32, roisPerImage: 2, lossWeight: 1 } }));
    model.train();
    const buffers = () =>
      model.backbone
        .namedParameters()
        .filter(([name]) => name.endsWith('running_mean') || name.endsWith('running_var'))
        .map(([, p]) => Array.from(p.variable.dataSync()));
    const before = model.stateDict();
    const initial = buffers();
    // The image pass alone: what the running statistics must be after a training step.
    tf.dispose(model.features(batch.images).features);
    const imagePassOnly = buffers();
    expect(imagePassOnly).not.toEqual(initial);
    model.loadStateDict(before);
    const terms = model.loss(batch.images, batch.imageSizes, batch.targets);
    expect(terms.loss_mimic.dataSync()[0]).toBeGreaterThan(0); // the crops did go through the backbone
    expect(buffers()).toEqual(imagePassOnly);
    tf.dispose([...Object.values(terms), ...Object.values(before), batch.images]);
    model.dispose();
  });

  it('mimicking changes nothing at inference: the same weights give the same detections without it', () => {
    const batch = toyBatch(new Rng(6));
    const withMimic = new FasterRCNN(tinyConfig({ mimic: { cropSize: 32, roisPerImage: 2, lossWeight: 1 } }));
    const plain = new FasterRCNN(tinyConfig());
    const weights = withMimic.stateDict();
    const extra = Object.keys(weights).filter((k) => k.startsWith('rcnn_cls_score.'));
    expect(extra).toEqual(['rcnn_cls_score.weight', 'rcnn_cls_score.bias']);
    for (const k of extra) {
      weights[k].dispose();
      delete weights[k];
    }
    plain.loadStateDict(weights);
    tf.dispose(Object.values(weights));
    withMimic.eval();
    plain.eval();
    const a = withMimic.detect(batch.images, batch.imageSizes);
    const b = plain.detect(batch.images, batch.imageSizes);
    expect(a.map((d) => Array.from(d.scores))).toEqual(b.map((d) => Array.from(d.scores)));
    expect(a.map((d) => Array.from(d.boxes))).toEqual(b.map((d) => Array.from(d.boxes)));
    tf.dispose(batch.images);
    withMimic.dispose();
    plain.dispose();
  });

  it('feature network + task network (taskLoss, detectFromFeatures) equal loss and detect', () => {
    const model = new FasterRCNN(tinyConfig());
    const batch = toyBatch(new Rng(8));
    const state = model.sampling.state();
    const whole = tf.tidy(() => model.loss(batch.images, batch.imageSizes, batch.targets));
    model.sampling = new Rng(state);
    const { features, paddedSize } = model.features(batch.images);
    const split = tf.tidy(() => model.taskLoss(features, paddedSize, batch.imageSizes, batch.targets));
    expect(Object.keys(split)).toEqual(['loss_objectness', 'loss_rpn_box_reg', 'loss_classifier', 'loss_box_reg']);
    for (const key of Object.keys(split) as (keyof typeof split)[])
      expect(split[key].dataSync()[0]).toBeCloseTo(whole[key].dataSync()[0], 5);
    model.eval();
    tf.dispose(features);
    const evalFeatures = model.features(batch.images).features;
    const a = model.detect(batch.images, batch.imageSizes);
    const b = model.detectFromFeatures(evalFeatures, paddedSize, batch.imageSizes);
    expect(b.map((d) => Array.from(d.scores))).toEqual(a.map((d) => Array.from(d.scores)));
    expect(b.map((d) => Array.from(d.boxes))).toEqual(a.map((d) => Array.from(d.boxes)));
    expect(() => model.detectFromFeatures(evalFeatures.slice(1), paddedSize, batch.imageSizes)).toThrow(
      /FasterRCNN.detectFromFeatures.*features.*5 tensors/,
    );
    expect(() => model.detectFromFeatures(evalFeatures, [60, 64], batch.imageSizes)).toThrow(
      /FasterRCNN.detectFromFeatures.*paddedSize.*multiples of 32/,
    );
    expect(() => model.detectFromFeatures(evalFeatures, [32, 64], batch.imageSizes)).toThrow(
      /FasterRCNN.detectFromFeatures.*features\[0\].*\[2, 8, 16, 16\]/,
    );
    tf.dispose([batch.images, ...evalFeatures, ...Object.values(whole), ...Object.values(split)]);
    model.dispose();
  });

  describe('errors name the argument', () => {
    let model: FasterRCNN;
    beforeAll(() => {
      model = new FasterRCNN(tinyConfig());
    });
    afterAll(() => model.dispose());

    it('inputs', () => {
      const images = tf.zeros([2, 32, 32, 3]);
      expect(() => model.detect(tf.zeros([2, 32, 32]), [[32, 32]])).toThrow(/FasterRCNN.*images/);
      expect(() => model.detect(images, [[32, 32]])).toThrow(/FasterRCNN.detect.*imageSizes/);
      expect(() =>
        model.detect(images, [
          [32, 32],
          [40, 32],
        ]),
      ).toThrow(/imageSizes\[1\]/);
      const target = { boxes: Float32Array.from([0, 0, 5, 5]), labels: Int32Array.from([7]) };
      expect(() =>
        model.loss(
          images,
          [
            [32, 32],
            [32, 32],
          ],
          [target, target],
        ),
      ).toThrow(/targets\[0\]\.labels.*\[0, 2\)/);
      expect(() =>
        model.loss(
          images,
          [
            [32, 32],
            [32, 32],
          ],
          [{ boxes: new Float32Array(3), labels: Int32Array.from([0]) }, target],
        ),
      ).toThrow(/targets\[0\]\.boxes/);
      images.dispose();
    });

    it('configuration', () => {
      expect(() =>
        validateFasterRcnnConfig({
          ...FASTER_RCNN_R50_FPN,
          dcn: { stages: 'c2-c5' as never, version: 2, deformGroups: 1 },
        }),
      ).toThrow(/config\.dcn\.stages/);
      expect(() =>
        validateFasterRcnnConfig({
          ...FASTER_RCNN_R50_FPN,
          dcn: { stages: 'c3-c5', version: 3 as never, deformGroups: 1 },
        }),
      ).toThrow(/config\.dcn\.version/);
      expect(() =>
        validateFasterRcnnConfig({
          ...FASTER_RCNN_R50_FPN,
          roi: { ...FASTER_RCNN_R50_FPN.roi, pooling: 'dpool' as never },
        }),
      ).toThrow(/config\.roi\.pooling/);
      expect(() => validateFasterRcnnConfig({ ...FASTER_RCNN_R50_FPN, anchorSizes: [32, 64] })).toThrow(
        /config\.anchorSizes/,
      );
      expect(() =>
        validateFasterRcnnConfig({ ...FASTER_RCNN_R50_FPN, mimic: { cropSize: 8, roisPerImage: 4, lossWeight: 1 } }),
      ).toThrow(/config\.mimic\.cropSize/);
    });
  });
});
