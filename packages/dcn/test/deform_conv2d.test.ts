import * as tf from '@tensorflow/tfjs-core';
// After tfjs-core itself: in Node the two load as separate module copies, and the first one builds the engine.
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng, initBackend } from '@deformjs/core';
import { TEST_BACKENDS, assertAllClose, assertNoTensorLeak, numericalGradient } from '@deformjs/core/testing';
import { deformConv2d, deformConv2dLimits, type DeformConv2dOptions } from '../src/index';
import { deformConv2dOracle } from './oracle';
import { loadFixture, toTensor, type Fixture } from './helpers';

const FIXTURES = [
  'deform_conv2d_b33_mask.json',
  'deform_conv2d_b33_nomask.json',
  'deform_conv2d_3x3.json',
  'deform_conv2d_b0_mask.json',
];

interface Case {
  input: tf.Tensor;
  offset: tf.Tensor;
  weight: tf.Tensor;
  mask: tf.Tensor | null;
  bias: tf.Tensor | null;
  options: DeformConv2dOptions;
}

function fixtureCase(f: Fixture): Case {
  const o = f.options as {
    strides: [number, number];
    pad: [number, number];
    dilations: [number, number];
    groups: number;
    offsetGroups: number;
  };
  return {
    input: toTensor(f.input),
    offset: toTensor(f.offset),
    weight: toTensor(f.weight),
    mask: f.mask ? toTensor(f.mask) : null,
    bias: f.bias ? toTensor(f.bias) : null,
    options: { strides: o.strides, pad: o.pad, dilations: o.dilations, groups: o.groups, offsetGroups: o.offsetGroups },
  };
}

/** Gradients of sum(deformConv2d(...) * gradOutput) with respect to every tensor argument. */
function gradients(c: Case, gradOutput: tf.Tensor): Record<string, tf.Tensor> {
  const names = ['input', 'offset', 'weight', ...(c.mask ? ['mask'] : []), ...(c.bias ? ['bias'] : [])];
  const args = names.map((n) => c[n as keyof Case] as tf.Tensor);
  const f = (...xs: tf.Tensor[]) => {
    const [input, offset, weight, ...rest] = xs;
    const mask = c.mask ? rest.shift()! : null;
    const bias = c.bias ? rest.shift()! : null;
    return tf.sum(tf.mul(deformConv2d(input, offset, weight, { ...c.options, mask, bias }), gradOutput));
  };
  const grads = tf.grads(f)(args);
  return Object.fromEntries(names.map((n, i) => [n, grads[i]]));
}

const GRAD_KEYS: Record<string, string> = {
  input: 'gradInput',
  offset: 'gradOffset',
  weight: 'gradWeight',
  mask: 'gradMask',
  bias: 'gradBias',
};

describe.each(TEST_BACKENDS)('deformConv2d on %s', (backend) => {
  beforeAll(async () => {
    await initBackend(backend);
  });

  it.each(FIXTURES)('matches torchvision (float64) forward and every gradient: %s', async (name) => {
    const f = loadFixture(name);
    const c = fixtureCase(f);
    const gradOutput = toTensor(f.gradOutput);
    await assertNoTensorLeak(() => {
      const out = deformConv2d(c.input, c.offset, c.weight, { ...c.options, mask: c.mask, bias: c.bias });
      expect(out.shape).toEqual(f.output.shape);
      assertAllClose(out, f.output.data, { atol: 2e-5, rtol: 1e-4, name: `${name} output` });
      out.dispose();
      const grads = gradients(c, gradOutput);
      for (const [arg, g] of Object.entries(grads)) {
        const expected = f[GRAD_KEYS[arg]];
        expect(g.shape).toEqual(expected.shape);
        assertAllClose(g, expected.data, { atol: 1e-4, rtol: 1e-4, name: `${name} d${arg}` });
      }
      tf.dispose(Object.values(grads));
    });
    tf.dispose([c.input, c.offset, c.weight, c.mask, c.bias, gradOutput].filter((t): t is tf.Tensor => t !== null));
  });

  it('convolves a large batch in chunks of images with the same results and gradients', async () => {
    const f = loadFixture('deform_conv2d_b33_mask.json');
    const c = fixtureCase(f);
    const gradOutput = toTensor(f.gradOutput);
    const limit = deformConv2dLimits.maxColumnElements;
    // 216 column elements per image: chunks of 2 images, the last one alone.
    deformConv2dLimits.maxColumnElements = 500;
    try {
      await assertNoTensorLeak(() => {
        const out = deformConv2d(c.input, c.offset, c.weight, { ...c.options, mask: c.mask, bias: c.bias });
        assertAllClose(out, f.output.data, { atol: 2e-5, rtol: 1e-4, name: 'chunked output' });
        out.dispose();
        const grads = gradients(c, gradOutput);
        for (const [arg, g] of Object.entries(grads))
          assertAllClose(g, f[GRAD_KEYS[arg]].data, { atol: 1e-4, rtol: 1e-4, name: `chunked d${arg}` });
        tf.dispose(Object.values(grads));
      });
    } finally {
      deformConv2dLimits.maxColumnElements = limit;
    }
    tf.dispose([c.input, c.offset, c.weight, c.mask!, c.bias!, gradOutput]);
  });

  it('matches the loop oracle on random configurations', () => {
    const rng = new Rng(7);
    const configs = [
      {
        N: 2,
        H: 7,
        W: 6,
        C: 4,
        O: 6,
        kh: 3,
        kw: 3,
        strides: [1, 1],
        pad: [1, 1],
        dilations: [1, 1],
        groups: 2,
        offsetGroups: 4,
        mask: true,
        bias: true,
      },
      {
        N: 1,
        H: 9,
        W: 5,
        C: 6,
        O: 3,
        kh: 2,
        kw: 3,
        strides: [2, 3],
        pad: [0, 2],
        dilations: [3, 1],
        groups: 3,
        offsetGroups: 2,
        mask: false,
        bias: false,
      },
      {
        N: 3,
        H: 4,
        W: 4,
        C: 3,
        O: 2,
        kh: 1,
        kw: 1,
        strides: [1, 1],
        pad: [0, 0],
        dilations: [1, 1],
        groups: 1,
        offsetGroups: 1,
        mask: true,
        bias: false,
      },
      {
        N: 1,
        H: 3,
        W: 8,
        C: 8,
        O: 4,
        kh: 3,
        kw: 2,
        strides: [1, 2],
        pad: [2, 1],
        dilations: [2, 2],
        groups: 4,
        offsetGroups: 8,
        mask: true,
        bias: true,
      },
    ] as const;
    for (const cfg of configs) {
      const Ho = Math.floor((cfg.H + 2 * cfg.pad[0] - (cfg.dilations[0] * (cfg.kh - 1) + 1)) / cfg.strides[0]) + 1;
      const Wo = Math.floor((cfg.W + 2 * cfg.pad[1] - (cfg.dilations[1] * (cfg.kw - 1) + 1)) / cfg.strides[1]) + 1;
      const K = cfg.kh * cfg.kw;
      const input = rng.uniformArray(cfg.N * cfg.H * cfg.W * cfg.C, -1, 1);
      const offset = rng.uniformArray(cfg.N * Ho * Wo * 2 * cfg.offsetGroups * K, -4, 4);
      const mask = cfg.mask ? rng.uniformArray(cfg.N * Ho * Wo * cfg.offsetGroups * K) : null;
      const weight = rng.uniformArray(K * (cfg.C / cfg.groups) * cfg.O, -1, 1);
      const bias = cfg.bias ? rng.uniformArray(cfg.O, -1, 1) : null;
      const expected = deformConv2dOracle({
        input,
        inputShape: [cfg.N, cfg.H, cfg.W, cfg.C],
        offset,
        mask,
        weight,
        weightShape: [cfg.kh, cfg.kw, cfg.C / cfg.groups, cfg.O],
        bias,
        strides: [...cfg.strides],
        pad: [...cfg.pad],
        dilations: [...cfg.dilations],
        groups: cfg.groups,
        offsetGroups: cfg.offsetGroups,
      });
      tf.tidy(() => {
        const out = deformConv2d(
          tf.tensor(input, [cfg.N, cfg.H, cfg.W, cfg.C]),
          tf.tensor(offset, [cfg.N, Ho, Wo, 2 * cfg.offsetGroups * K]),
          tf.tensor(weight, [cfg.kh, cfg.kw, cfg.C / cfg.groups, cfg.O]),
          {
            mask: mask ? tf.tensor(mask, [cfg.N, Ho, Wo, cfg.offsetGroups * K]) : null,
            bias: bias ? tf.tensor(bias, [cfg.O]) : null,
            strides: [...cfg.strides],
            pad: [...cfg.pad],
            dilations: [...cfg.dilations],
            groups: cfg.groups,
          },
        );
        expect(out.shape).toEqual(expected.shape);
        assertAllClose(out, expected.data, { atol: 1e-5, rtol: 1e-4, name: JSON.stringify(cfg) });
      });
    }
  });

  it('has gradients that agree with finite differences', () => {
    const rng = new Rng(11);
    const [N, H, W, C, O, kh, kw, G] = [1, 4, 5, 4, 4, 2, 3, 2];
    const options = {
      strides: [1, 2] as [number, number],
      pad: [1, 1] as [number, number],
      dilations: [2, 1] as [number, number],
      groups: 2,
    };
    const Ho = Math.floor((H + 2 - (2 * (kh - 1) + 1)) / 1) + 1;
    const Wo = Math.floor((W + 2 - kw) / 2) + 1;
    const K = kh * kw;
    const shapes: Record<string, number[]> = {
      input: [N, H, W, C],
      offset: [N, Ho, Wo, 2 * G * K],
      weight: [kh, kw, C / 2, O],
      mask: [N, Ho, Wo, G * K],
      bias: [O],
    };
    const values: Record<string, Float32Array> = {
      input: rng.uniformArray(N * H * W * C, -1, 1),
      // Offsets keep samples away from integer coordinates, where bilinear sampling has kinks.
      offset: rng.uniformArray(N * Ho * Wo * 2 * G * K, 0.2, 0.8).map((v, i) => (i % 3 === 0 ? v - 2 : v)),
      weight: rng.uniformArray(kh * kw * (C / 2) * O, -1, 1),
      mask: rng.uniformArray(N * Ho * Wo * G * K),
      bias: rng.uniformArray(O, -1, 1),
    };
    const gradOutput = rng.uniformArray(N * Ho * Wo * O, -1, 1);
    const loss = (v: Record<string, ArrayLike<number>>) =>
      tf.tidy(() => {
        const t = (n: string) => tf.tensor(v[n] as Float32Array, shapes[n]);
        const out = deformConv2d(t('input'), t('offset'), t('weight'), {
          ...options,
          mask: t('mask'),
          bias: t('bias'),
        });
        return tf.sum(tf.mul(out, tf.tensor(gradOutput, out.shape)));
      });
    const names = Object.keys(shapes);
    const analytic = tf.tidy(() => {
      const f = (...xs: tf.Tensor[]) => {
        const [input, offset, weight, mask, bias] = xs;
        const out = deformConv2d(input, offset, weight, { ...options, mask, bias });
        return tf.sum(tf.mul(out, tf.tensor(gradOutput, out.shape)));
      };
      return tf
        .grads(f)(names.map((n) => tf.tensor(values[n], shapes[n])))
        .map((g) => g.dataSync().slice());
    });
    names.forEach((name, i) => {
      const numeric = numericalGradient(
        (x) => {
          const l = loss({ ...values, [name]: x });
          const s = l.dataSync()[0];
          l.dispose();
          return s;
        },
        values[name],
        1e-3,
      );
      assertAllClose(analytic[i], numeric, { atol: 5e-3, rtol: 5e-3, name: `d${name}` });
    });
  });

  it('keeps batch 0 working, gradients included', async () => {
    await assertNoTensorLeak(() => {
      const input = tf.zeros([0, 5, 4, 6]);
      const offset = tf.zeros([0, 2, 3, 36]);
      const mask = tf.zeros([0, 2, 3, 18]);
      const weight = tf.ones([3, 2, 3, 2]);
      const bias = tf.ones([2]);
      const options = {
        strides: [2, 1] as [number, number],
        pad: [1, 0] as [number, number],
        dilations: [2, 1] as [number, number],
        groups: 2,
      };
      const out = deformConv2d(input, offset, weight, { ...options, mask, bias });
      expect(out.shape).toEqual([0, 2, 3, 2]);
      const grads = tf.grads((w: tf.Tensor, b: tf.Tensor, x: tf.Tensor) =>
        tf.sum(deformConv2d(x, offset, w, { ...options, mask, bias: b })),
      )([weight, bias, input]);
      expect(grads.map((g) => g.shape)).toEqual([weight.shape, [2], [0, 5, 4, 6]]);
      expect(Array.from(grads[0].dataSync()).every((v) => v === 0)).toBe(true);
      expect(Array.from(grads[1].dataSync())).toEqual([0, 0]);
      tf.dispose([input, offset, mask, weight, bias, out, ...grads]);
    });
  });
});

describe('deformConv2d argument errors', () => {
  beforeAll(async () => {
    await initBackend('cpu');
  });

  const call =
    (
      shapes: { input?: number[]; offset?: number[]; weight?: number[]; mask?: number[]; bias?: number[] },
      options: DeformConv2dOptions = {},
    ) =>
    () =>
      tf.tidy(() => {
        const input = tf.zeros(shapes.input ?? [1, 5, 5, 4]);
        const offset = tf.zeros(shapes.offset ?? [1, 3, 3, 18]);
        const weight = tf.zeros(shapes.weight ?? [3, 3, 4, 2]);
        const mask = shapes.mask ? tf.zeros(shapes.mask) : null;
        const bias = shapes.bias ? tf.zeros(shapes.bias) : null;
        deformConv2d(input, offset, weight, { mask, bias, ...options });
      });

  it('accepts the valid base call', () => {
    expect(call({ mask: [1, 3, 3, 9], bias: [2] })).not.toThrow();
  });

  it('names wrong ranks', () => {
    expect(call({ input: [5, 5, 4] })).toThrow(
      /deformConv2d: argument 'input' expected rank 4, shape \[N, H, W, C\], got "rank 3, shape \[5, 5, 4\]"/,
    );
    expect(call({ weight: [3, 3, 4] })).toThrow(/argument 'weight' expected rank 4/);
    expect(call({ offset: [1, 3, 18] })).toThrow(/argument 'offset' expected rank 4/);
    expect(call({ mask: [1, 3, 9] })).toThrow(/argument 'mask' expected rank 4/);
  });

  it('names inconsistent offset and mask channel counts', () => {
    expect(call({ offset: [1, 3, 3, 17] })).toThrow(
      /argument 'offset' expected channels \(dimension 3\) a positive multiple of 2 \* kh \* kw = 18, got \[1, 3, 3, 17\]/,
    );
    expect(call({ offset: [1, 3, 3, 18] }, { offsetGroups: 2 })).toThrow(/argument 'offset' expected 36 channels/);
    expect(call({ mask: [1, 3, 3, 18] })).toThrow(/argument 'mask' expected shape \[N=1, Ho=3, Wo=3, 9\]/);
    expect(call({ offset: [1, 3, 4, 18] })).toThrow(/argument 'offset' expected shape \[N=1, Ho=3, Wo=3, \*\]/);
    expect(call({ offset: [2, 3, 3, 18] })).toThrow(/argument 'offset' expected shape \[N=1/);
  });

  it('names groups that do not divide the channels', () => {
    expect(call({ weight: [3, 3, 4, 2] }, { groups: 3 })).toThrow(
      /argument 'groups' expected a positive integer dividing the input channels C = 4, got 3/,
    );
    expect(call({ weight: [3, 3, 2, 3] }, { groups: 2 })).toThrow(
      /argument 'groups' expected a positive integer dividing the output channels O = 3/,
    );
    expect(call({ weight: [3, 3, 4, 2] }, { groups: 2 })).toThrow(
      /argument 'weight' expected shape \[kh, kw, C\/groups = 2, O\]/,
    );
    expect(call({ offset: [1, 3, 3, 54] })).toThrow(
      /argument 'offsetGroups' expected a positive integer dividing the input channels C = 4, got 3/,
    );
  });

  it('names a kernel bigger than the padded input', () => {
    expect(call({ input: [1, 2, 2, 4] })).toThrow(
      /argument 'weight' expected a dilated kernel \(3 x 3\) no bigger than the padded input \(2 x 2\)/,
    );
    expect(call({}, { dilations: 3 })).toThrow(/dilated kernel \(7 x 7\) no bigger than the padded input \(5 x 5\)/);
  });

  it('names bad attributes and a wrong bias', () => {
    expect(call({}, { strides: 0 })).toThrow(/argument 'strides' expected an integer >= 1, got 0/);
    expect(call({}, { pad: -1 })).toThrow(/argument 'pad' expected an integer >= 0, got -1/);
    expect(call({ bias: [3] })).toThrow(/argument 'bias' expected shape \[O=2\]/);
  });
});
