import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { Rng, fromTorchLayout, initBackend } from '@deformjs/core';
import { TEST_BACKENDS, assertAllClose, assertNoTensorLeak, numericalGradient } from '@deformjs/core/testing';
import { describe, expect, it } from 'vitest';
import { GeneralizedAttention, type GeneralizedAttentionOptions } from '../src/index';

interface FixtureCase {
  name: string;
  config: Record<string, number | string>;
  input: { shape: number[]; nhwc: number[] };
  params: Record<string, { shape: number[]; torch: number[] }>;
  output: number[];
  cotangent: number[];
  grad_input: number[];
  grad_params: Record<string, number[]>;
}

const fixtures: { cases: FixtureCase[] } = JSON.parse(
  readFileSync(new URL('./fixtures/generalized_attention.json', import.meta.url), 'utf8'),
);

function optionsOf(config: Record<string, number | string>): GeneralizedAttentionOptions {
  return {
    inChannels: config.in_channels as number,
    attentionType: config.attention_type as string,
    numHeads: config.num_heads as number,
    kvStride: config.kv_stride as number,
    qStride: config.q_stride as number | undefined,
    spatialRange: config.spatial_range as number | undefined,
    positionMagnitude: config.position_magnitude as number | undefined,
    positionEmbeddingDim: config.position_embedding_dim as number | undefined,
  };
}

/** The output, the input gradient and every parameter's gradient of sum(apply(x) * cotangent). */
function outputAndGradients(module: GeneralizedAttention, x: tf.Tensor4D, cotangent: tf.Tensor) {
  const input = tf.variable(x);
  const params = module.namedParameters().filter(([, p]) => p.trainable);
  const { value, grads } = tf.variableGrads(
    () => tf.sum(tf.mul(module.forward(input), cotangent)) as tf.Scalar,
    [input, ...params.map(([, p]) => p.variable)],
  );
  const out = module.forward(input);
  const result = {
    output: out.dataSync(),
    gradInput: grads[input.name].dataSync(),
    gradParams: Object.fromEntries(params.map(([name, p]) => [name, grads[p.variable.name]])),
  };
  tf.dispose([value, out, input, grads[input.name]]);
  return result;
}

function randomModule(
  type: string,
  seed: number,
  extra: Partial<GeneralizedAttentionOptions> = {},
): GeneralizedAttention {
  const module = new GeneralizedAttention({
    inChannels: 8,
    numHeads: 2,
    attentionType: type,
    positionEmbeddingDim: 8,
    rng: seed,
    ...extra,
  });
  // Non-zero gamma so the attention path shows in the output.
  tf.tidy(() => module.gamma.assign(tf.tensor1d([0.8])));
  return module;
}

const ALL_TYPES = Array.from({ length: 15 }, (_, i) => (i + 1).toString(2).padStart(4, '0'));

describe.each(TEST_BACKENDS)('GeneralizedAttention on %s', (backend) => {
  it('starts the backend', async () => {
    expect(await initBackend(backend)).toBe(backend);
  });

  it.each(fixtures.cases.map((c) => [c.name, c] as const))('matches the float64 mmcv port: %s', async (_, fixture) => {
    const module = new GeneralizedAttention({ ...optionsOf(fixture.config), rng: 1 });
    const dict = Object.fromEntries(Object.entries(fixture.params).map(([k, p]) => [k, tf.tensor(p.torch, p.shape)]));
    module.loadStateDict(dict, { torchLayout: true });
    tf.dispose(Object.values(dict));
    await assertNoTensorLeak(() => {
      const x = tf.tensor4d(fixture.input.nhwc, fixture.input.shape as [number, number, number, number]);
      const cotangent = tf.tensor(fixture.cotangent, fixture.input.shape);
      const { output, gradInput, gradParams } = outputAndGradients(module, x, cotangent);
      assertAllClose(output, fixture.output, { atol: 1e-4, rtol: 1e-4, name: `${fixture.name} output` });
      assertAllClose(gradInput, fixture.grad_input, { atol: 2e-4, rtol: 1e-3, name: `${fixture.name} grad x` });
      for (const [name, grad] of Object.entries(gradParams)) {
        const layout = module.namedParameters().find(([n]) => n === name)![1].layout;
        const expected = tf.tensor(fixture.grad_params[name], fixture.params[name].shape);
        const ours = fromTorchLayout(expected, layout);
        assertAllClose(grad, ours, { atol: 2e-4, rtol: 1e-3, name: `${fixture.name} grad ${name}` });
        tf.dispose([expected, ours, grad]);
      }
      tf.dispose([x, cotangent]);
    });
    module.dispose();
  });

  it.each(ALL_TYPES)(
    'attentionType %s: shape, finite gradients for every parameter, flat tensor count',
    async (type) => {
      const module = randomModule(type, 7, { kvStride: 2, spatialRange: type === '0110' ? 1 : -1 });
      const rng = new Rng(3);
      await assertNoTensorLeak(() => {
        const x = rng.normalTensor([2, 5, 4, 8]) as tf.Tensor4D;
        const cotangent = rng.normalTensor([2, 5, 4, 8]);
        const { output, gradInput, gradParams } = outputAndGradients(module, x, cotangent);
        expect(output.length).toBe(2 * 5 * 4 * 8);
        expect(output.every(Number.isFinite)).toBe(true);
        expect(gradInput.every(Number.isFinite)).toBe(true);
        const [e1, e2, e3, e4] = module.terms;
        const expectedNames = [
          ...(e3 ? ['appr_bias'] : []),
          ...(e4 ? ['geom_bias'] : []),
          'gamma',
          ...(e1 || e2 ? ['query_conv.weight'] : []),
          ...(e1 || e3 ? ['key_conv.weight'] : []),
          'value_conv.weight',
          ...(e2 || e4 ? ['appr_geom_fc_x.weight', 'appr_geom_fc_y.weight'] : []),
          'proj_conv.weight',
          'proj_conv.bias',
        ];
        expect(Object.keys(gradParams)).toEqual(expectedNames);
        for (const [name, grad] of Object.entries(gradParams)) {
          const values = grad.dataSync();
          expect(values.every(Number.isFinite), name).toBe(true);
          // Every parameter of the chosen terms reaches the output.
          expect(
            values.some((v) => v !== 0),
            `${type}: ${name} has an all-zero gradient`,
          ).toBe(true);
        }
        tf.dispose(Object.values(gradParams));
        tf.dispose([x, cotangent]);
      });
      module.dispose();
    },
  );

  it('construction and dispose leave the tensor count flat', async () => {
    await assertNoTensorLeak(() => {
      for (const type of ['1111', '0010', '0101'])
        new GeneralizedAttention({ inChannels: 8, numHeads: 2, attentionType: type, spatialRange: 1 }).dispose();
    });
  });

  it('with gamma = 0 (a new module) is exactly the identity', async () => {
    const module = new GeneralizedAttention({ inChannels: 8, numHeads: 2, attentionType: '1111', rng: 5 });
    await assertNoTensorLeak(() => {
      const x = new Rng(4).normalTensor([1, 6, 7, 8]) as tf.Tensor4D;
      const out = module.forward(x);
      expect(Array.from(out.dataSync())).toEqual(Array.from(x.dataSync()));
      tf.dispose([x, out]);
    });
    module.dispose();
  });

  it('with E4 alone, the attention ignores content and the output is affine in x', async () => {
    const module = randomModule('0001', 11);
    const rng = new Rng(12);
    await assertNoTensorLeak(() => {
      const a = rng.normalTensor([2, 6, 5, 8]) as tf.Tensor4D;
      const b = tf.tidy(() => tf.mul(rng.normalTensor([2, 6, 5, 8]), 5)) as tf.Tensor4D;
      const mapA = module.attentionMap(a);
      const mapB = module.attentionMap(b);
      expect(mapA.shape).toEqual([1, 2, 30, 9]);
      expect(Array.from(mapA.dataSync())).toEqual(Array.from(mapB.dataSync()));
      // out(0.3 a + 0.7 b) = 0.3 out(a) + 0.7 out(b) holds only when the weights do not depend on x.
      tf.tidy(() => {
        const mixed = module.forward(tf.add(tf.mul(a, 0.3), tf.mul(b, 0.7)) as tf.Tensor4D);
        const expected = tf.add(tf.mul(module.forward(a), 0.3), tf.mul(module.forward(b), 0.7));
        assertAllClose(mixed, expected, { atol: 1e-4, name: 'E4 affine' });
      });
      tf.dispose([a, b, mapA, mapB]);
    });
    module.dispose();
  });

  it('with E1 the attention does depend on content (the affine check above can fail)', () => {
    const module = randomModule('1000', 11);
    tf.tidy(() => {
      const rng = new Rng(12);
      const a = rng.normalTensor([1, 6, 5, 8]) as tf.Tensor4D;
      const b = rng.normalTensor([1, 6, 5, 8]) as tf.Tensor4D;
      const difference = tf.max(tf.abs(tf.sub(module.attentionMap(a), module.attentionMap(b)))).dataSync()[0];
      expect(difference).toBeGreaterThan(1e-3);
    });
    module.dispose();
  });

  it('E3 alone computes one attention row per image (the saliency shortcut)', () => {
    const module = randomModule('0010', 2);
    tf.tidy(() => {
      const x = new Rng(1).normalTensor([2, 6, 6, 8]) as tf.Tensor4D;
      expect(module.attentionMap(x).shape).toEqual([2, 2, 1, 9]);
      const out = module.forward(x);
      expect(out.shape).toEqual([2, 6, 6, 8]);
      // gamma * out + x: the attention part is the same at every position.
      const attentionPart = tf.sub(out, x);
      const first = tf.slice(attentionPart, [0, 0, 0, 0], [2, 1, 1, 8]);
      assertAllClose(attentionPart, tf.broadcastTo(first, [2, 6, 6, 8]), { atol: 1e-6, name: 'saliency broadcast' });
    });
    module.dispose();
  });

  it('the spatial range puts zero weight on keys out of range', () => {
    const module = randomModule('1111', 3, { spatialRange: 1, kvStride: 2 });
    tf.tidy(() => {
      const x = new Rng(2).normalTensor([1, 7, 6, 8]) as tf.Tensor4D;
      const map = module.attentionMap(x);
      expect(map.shape).toEqual([1, 2, 42, 12]);
      const values = map.dataSync();
      for (let head = 0; head < 2; head++) {
        for (let q = 0; q < 42; q++) {
          const [y, xq] = [Math.floor(q / 6), q % 6];
          let total = 0;
          for (let k = 0; k < 12; k++) {
            const [ky, kx] = [Math.floor(k / 3), k % 3];
            const inRange = (i: number, j: number) =>
              j >= Math.max(Math.floor((i - 1) / 2), 0) && j < Math.floor((i + 2) / 2) + 1;
            const v = values[(head * 42 + q) * 12 + k];
            if (!(inRange(y, ky) && inRange(xq, kx))) expect(v).toBe(0);
            total += v;
          }
          expect(total).toBeCloseTo(1, 5);
        }
      }
    });
    module.dispose();
  });

  it('input gradient matches central finite differences', () => {
    const module = randomModule('1111', 21, { kvStride: 1 });
    tf.tidy(() => {
      const rng = new Rng(22);
      const x = rng.normalTensor([1, 3, 3, 8]) as tf.Tensor4D;
      const cotangent = rng.normalTensor([1, 3, 3, 8]);
      const loss = (input: tf.Tensor) => tf.sum(tf.mul(module.forward(input as tf.Tensor4D), cotangent)) as tf.Scalar;
      const analytic = tf.grad(loss)(x).dataSync();
      const numeric = numericalGradient(
        (v) => tf.tidy(() => loss(tf.tensor4d(v, x.shape)).dataSync()[0]),
        x.dataSync(),
        1e-2,
      );
      assertAllClose(analytic, numeric, { atol: 2e-3, rtol: 2e-2, name: 'finite differences' });
    });
    module.dispose();
  });

  it('names parameters as mmcv does and converts to its layouts', () => {
    const module = new GeneralizedAttention({ inChannels: 16, numHeads: 4, rng: 1 });
    const dict = module.stateDict({ torchLayout: true });
    const shapes = Object.fromEntries(Object.entries(dict).map(([k, t]) => [k, t.shape]));
    expect(shapes).toEqual({
      appr_bias: [16],
      geom_bias: [16],
      gamma: [1],
      'query_conv.weight': [16, 16, 1, 1],
      'key_conv.weight': [16, 16, 1, 1],
      'value_conv.weight': [16, 16, 1, 1],
      'appr_geom_fc_x.weight': [16, 8],
      'appr_geom_fc_y.weight': [16, 8],
      'proj_conv.weight': [16, 16, 1, 1],
      'proj_conv.bias': [16],
    });
    tf.dispose(Object.values(dict));
    module.dispose();
  });
});

describe('GeneralizedAttention argument errors', () => {
  it('names the argument, the expectation and the value', async () => {
    await initBackend('cpu');
    expect(() => new GeneralizedAttention({ inChannels: 8, numHeads: 2, attentionType: '0000' })).toThrow(
      /GeneralizedAttention: argument 'attentionType' expected four 0\/1 flags.*got "0000"/,
    );
    expect(() => new GeneralizedAttention({ inChannels: 8, numHeads: 2, attentionType: '11' })).toThrow(
      /'attentionType'/,
    );
    expect(() => new GeneralizedAttention({ inChannels: 10, numHeads: 2 })).toThrow(
      /'positionEmbeddingDim' expected a positive multiple of 4.*got "10 \(inChannels\)"/,
    );
    expect(() => new GeneralizedAttention({ inChannels: 8, numHeads: 2, kvStride: 0 })).toThrow(
      /'kvStride' expected an integer >= 1, got 0/,
    );
    // A bad rng is refused before any parameter exists: nothing leaks.
    for (const rng of ['7', {}, 1.5, [1, 2, 3, 4]]) {
      await assertNoTensorLeak(() => {
        expect(() => new GeneralizedAttention({ inChannels: 8, numHeads: 2, rng: rng as never })).toThrow(
          /GeneralizedAttention: argument 'rng' expected an Rng or an integer seed/,
        );
      });
    }
    const module = new GeneralizedAttention({ inChannels: 8, numHeads: 2, attentionType: '0010' });
    const x = tf.zeros([1, 4, 4, 6]) as tf.Tensor4D;
    expect(() => module.forward(x)).toThrow(/argument 'x' expected .*dimension 3 = 8.*got "shape \[1, 4, 4, 6\]"/);
    x.dispose();
    const empty = tf.zeros([0, 4, 4, 8]);
    expect(() => module.forward(empty)).toThrow(
      /argument 'x' expected a batch of at least 1 image, got \[0, 4, 4, 8\]/,
    );
    empty.dispose();
    module.dispose();
  });
});
