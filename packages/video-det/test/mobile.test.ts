import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, Rng } from '@deformjs/core';
import { assertAllClose, assertNoTensorLeak } from '@deformjs/core/testing';
import { AdamW, optimizationStep } from '@deformjs/nn';
import { FlowGuidedGru, LightFlow, MobileVOD, multiScaleEpeLoss, warpPyramid } from '../src/index';
import { movingSquareClip, tinyDetector } from './helpers';

const SIZE: [number, number] = [64, 64];
const LIGHT_FLOW = { width: 4, seed: 2 };

// Starting wasm can take minutes on a loaded machine: more than the shared 120 s hook timeout.
beforeAll(async () => {
  await initBackend('wasm');
}, 600_000);

describe('Light Flow', () => {
  it('predicts flow at stride 4 as the average of five predictions; errors name the argument', async () => {
    const net = new LightFlow(LIGHT_FLOW);
    net.eval();
    const names = Object.keys(net.stateDict());
    for (const name of ['encoder.0.0.weight', 'encoder.8.4.running_var', 'decoder.3.3.weight', 'predict_flow.2.bias'])
      expect(names).toContain(name);
    const a = tf.randomNormal([2, 64, 128, 3], 0, 1, 'float32', 1);
    const b = tf.randomNormal([2, 64, 128, 3], 0, 1, 'float32', 2);
    const out = await assertNoTensorLeak(() => net.forward(a, b));
    expect(out.flow.shape).toEqual([2, 16, 32, 2]);
    expect(out.features.shape).toEqual([2, 16, 32, net.featureChannels]);
    expect(out.predictions.map((p) => p.shape.slice(1, 3))).toEqual([
      [16, 32],
      [8, 16],
      [4, 8],
      [2, 4],
      [1, 2],
    ]);
    // A constant prediction at every level averages to itself: the flow is 20 x the mean of the predictions'
    // biases when every predictor's weight is zero.
    for (const p of net.predictFlows) p.weight.assign(tf.zerosLike(p.weight));
    const biases = tf.tidy(() => tf.mean(tf.stack(net.predictFlows.map((p) => p.bias!)), 0));
    const constant = net.forward(a, b);
    const expected = tf.tidy(() => tf.mul(tf.broadcastTo(biases, [2, 16, 32, 2]), 20));
    assertAllClose(constant.flow, expected, { atol: 1e-5, name: 'averaged flow' });
    expect(() => net.forward(tf.zeros([1, 60, 64, 3]), tf.zeros([1, 60, 64, 3]))).toThrow(
      /LightFlow.*current.*multiples of 64.*60/,
    );
    expect(() => net.forward(a, tf.zeros([2, 64, 128, 1]))).toThrow(/LightFlow.*reference/);
    expect(() => new LightFlow({ width: 0, seed: 0 })).toThrow(/LightFlow.*config.width/);
    expect(() => new LightFlow({ ...LIGHT_FLOW, norm: 'layer' as 'batch' })).toThrow(/LightFlow.*config.norm.*layer/);
    tf.dispose([a, b, out.flow, out.features, ...out.predictions, biases, constant.flow, constant.features]);
    tf.dispose([...constant.predictions, expected]);
    net.dispose();
  });

  it("norm 'instance': per-image statistics, the same flow in evaluation as in training", async () => {
    const net = new LightFlow({ ...LIGHT_FLOW, norm: 'instance' });
    const names = Object.keys(net.stateDict());
    expect(names).toContain('encoder.8.4.weight');
    expect(names.some((name) => name.includes('running_'))).toBe(false);
    const a = tf.randomNormal([1, 64, 128, 3], 0, 1, 'float32', 3);
    const b = tf.randomNormal([1, 64, 128, 3], 0, 1, 'float32', 4);
    const trained = net.train().forward(a, b);
    const evaluated = await assertNoTensorLeak(() => net.eval().forward(a, b));
    assertAllClose(evaluated.flow, trained.flow, { atol: 1e-5, name: 'flow' });
    tf.dispose([a, b, ...Object.values(trained).flat(), ...Object.values(evaluated).flat()]);
    net.dispose();
  });

  it('trains with the multi-scale EPE loss on a known translation (loss falls, tensor count flat)', async () => {
    const net = new LightFlow(LIGHT_FLOW);
    const optimizer = new AdamW([{ params: net.trainableVariables() }], { lr: 3e-3, weightDecay: 0 });
    const rng = new Rng(0);
    const reference = rng.normalTensor([2, 64, 64, 3]);
    // current(p) = reference(p + (3, 0)): the backward flow is +3 px horizontally everywhere.
    const current = tf.tidy(() =>
      tf.pad(tf.slice(reference, [0, 0, 3, 0], [2, 64, 61, 3]), [
        [0, 0],
        [0, 0],
        [0, 3],
        [0, 0],
      ]),
    );
    const target = tf.tidy(() => tf.mul(tf.ones([2, 64, 64, 2]), tf.tensor1d([3, 0])));
    const step = () =>
      optimizationStep(
        () => {
          const out = net.forward(current, reference);
          const loss = multiScaleEpeLoss(out.predictions, target);
          tf.dispose([out.flow, out.features, ...out.predictions]);
          return { loss, components: { epe: loss } };
        },
        net.trainableVariables(),
        optimizer,
        10,
      );
    const first = step().loss;
    let last = first;
    for (let i = 0; i < 14; i++) last = step().loss;
    const result = await assertNoTensorLeak(step);
    expect(last).toBeLessThan(0.7 * first);
    expect(Number.isFinite(result.loss)).toBe(true);
    tf.dispose([reference, current, target]);
    optimizer.dispose();
    net.dispose();
  });
});

describe('flow-guided GRU', () => {
  it('is the GRU of the paper: z = 0 keeps the warped state, z = 1 takes the candidate', () => {
    const gru = new FlowGuidedGru(new Rng(0), 3);
    const f = tf.randomNormal([1, 4, 5, 3], 0, 1, 'float32', 3);
    const h = tf.randomNormal([1, 4, 5, 3], 0, 1, 'float32', 4);
    const bias = gru.gates.pointwise.bias!;
    const setUpdateGate = (value: number) => {
      gru.gates.pointwise.weight.assign(tf.zerosLike(gru.gates.pointwise.weight));
      bias.assign(tf.tensor1d([value, value, value, 10, 10, 10]));
    };
    setUpdateGate(-30);
    assertAllClose(gru.forward(f, h), h, { atol: 1e-6, name: 'z = 0' });
    setUpdateGate(30);
    // r = 1, so the candidate is ReLU(conv([F, H])).
    const candidate = tf.tidy(() => tf.relu(gru.candidate.forward(tf.concat([f, h], 3))));
    assertAllClose(gru.forward(f, h), candidate, { atol: 1e-5, name: 'z = 1' });
    expect(() => new FlowGuidedGru(new Rng(0), 0)).toThrow(/FlowGuidedGru.*channels/);
    expect(() => new FlowGuidedGru(new Rng(0), 3, 'tanh' as 'relu')).toThrow(
      `FlowGuidedGru: argument 'candidateActivation' expected one of "relu", "none", got "tanh"`,
    );
    tf.dispose([f, h, candidate]);
    gru.dispose();
  });

  it("starts as the current features: H = 0.88 F + 0.12 warp(H) (ReLU(F) with the paper's candidate)", () => {
    const f = tf.randomNormal([1, 4, 5, 3], 0, 1, 'float32', 5);
    const h = tf.randomNormal([1, 4, 5, 3], 0, 1, 'float32', 6);
    const z = 1 / (1 + Math.exp(-2));
    for (const activation of ['none', 'relu'] as const) {
      const gru = new FlowGuidedGru(new Rng(1), 3, activation);
      const expected = tf.tidy(() => tf.add(tf.mul(activation === 'relu' ? tf.relu(f) : f, z), tf.mul(h, 1 - z)));
      const before = tf.memory().numTensors;
      const out = gru.forward(f, h);
      expect(tf.memory().numTensors).toBe(before + 1);
      assertAllClose(out, expected, { atol: 1e-5, name: activation });
      tf.dispose([out, expected]);
      gru.dispose();
    }
    tf.dispose([f, h]);
  });
});

describe('MobileVOD around Faster R-CNN', () => {
  it('the first key frame is the per-frame detector; others warp the aggregated state; errors', () => {
    const detector = tinyDetector();
    const vod = new MobileVOD(detector, { lightFlow: LIGHT_FLOW, seed: 3 });
    vod.eval();
    const { frames } = movingSquareClip(4);
    const video = vod.detectVideo(frames, SIZE, 2);
    expect(video.length).toBe(4);
    const alone = detector.detect(frames[0], [SIZE])[0];
    expect(Array.from(video[0].scores)).toEqual(Array.from(alone.scores));
    // Frame 3 (not a key) = the state at key 2 warped by Light Flow 3 -> 2.
    const first = vod.keyFrame(frames[0], null);
    const second = vod.keyFrame(frames[2], first);
    const propagated = vod.propagate(second, frames[3]);
    const { flow, features, predictions } = vod.lightFlow.forward(frames[3], frames[2]);
    const warped = warpPyramid(second.features, flow, second.paddedSize);
    propagated.forEach((p, l) => assertAllClose(p, warped[l], { atol: 1e-6, name: `level ${l}` }));
    const expected = detector.detectFromFeatures(warped, second.paddedSize, [SIZE])[0];
    expect(Array.from(video[3].scores)).toEqual(Array.from(expected.scores));
    expect(() => vod.detectVideo([], SIZE, 2)).toThrow(/MobileVOD.detectVideo.*frames/);
    expect(() => vod.detectVideo(frames, SIZE, 0)).toThrow(/MobileVOD.detectVideo.*keyInterval/);
    expect(() => vod.loss([], frames[0], [SIZE], [])).toThrow(/MobileVOD.loss.*keys/);
    tf.dispose([...frames, ...first.features, ...second.features, ...propagated, flow, features]);
    tf.dispose([...predictions, ...warped]);
    vod.dispose();
  });

  it('a fresh design at a key frame keeps the per-frame features: 0.88 F + 0.12 of the warped state', () => {
    const detector = tinyDetector();
    const vod = new MobileVOD(detector, { lightFlow: LIGHT_FLOW, seed: 3 });
    vod.eval();
    const { frames } = movingSquareClip(3);
    const first = vod.keyFrame(frames[0], null);
    const second = vod.keyFrame(frames[2], first);
    const own = detector.features(frames[2]).features;
    const warped = vod.propagate(first, frames[2]);
    const z = 1 / (1 + Math.exp(-2));
    second.features.forEach((merged, l) => {
      const expected = tf.tidy(() => tf.add(tf.mul(own[l], z), tf.mul(warped[l], 1 - z)));
      assertAllClose(merged, expected, { atol: 1e-5, name: `level ${l}` });
      expected.dispose();
    });
    tf.dispose([...frames, ...first.features, ...second.features, ...own, ...warped]);
    vod.dispose();
  });

  it('trains end to end over key frames: GRU and Light Flow get gradients, tensor count flat', async () => {
    const vod = new MobileVOD(tinyDetector(), { lightFlow: LIGHT_FLOW, seed: 3 });
    const optimizer = new AdamW([{ params: vod.trainableVariables() }], { lr: 1e-3, weightDecay: 0 });
    const { frames, targets } = movingSquareClip(5);
    const step = () =>
      optimizationStep(
        () => {
          const components = vod.loss([frames[0], frames[2]], frames[4], [SIZE], [targets[4]]);
          return { loss: tf.addN(Object.values(components)) as tf.Scalar, components };
        },
        vod.trainableVariables(),
        optimizer,
        10,
      );
    vod.train();
    // flow2's predictor: at 64 px and batch 1 the stride-64 map is 1 x 1, where batch norm in training mode
    // outputs 0, so flow6's predictor sees no input.
    const flowBefore = vod.lightFlow.predictFlows[4].weight.dataSync().slice();
    const gruBefore = vod.gru.candidate.pointwise.weight.dataSync().slice();
    step();
    const result = await assertNoTensorLeak(step);
    expect(Number.isFinite(result.loss)).toBe(true);
    expect(vod.lightFlow.predictFlows[4].weight.dataSync()).not.toEqual(flowBefore);
    expect(vod.gru.candidate.pointwise.weight.dataSync()).not.toEqual(gruBefore);
    // The current frame may be the last key frame itself: its loss reads the GRU's state directly.
    const atKey = await assertNoTensorLeak(() =>
      tf.tidy(() => tf.addN(Object.values(vod.loss([frames[0], frames[2]], frames[2], [SIZE], [targets[2]])))),
    );
    expect(Number.isFinite(atKey.dataSync()[0])).toBe(true);
    tf.dispose([...frames, atKey]);
    optimizer.dispose();
    vod.dispose();
  });
});
