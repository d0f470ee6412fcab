import * as tf from '@tensorflow/tfjs-core';
// After tfjs-core itself: in Node the two load as separate module copies, and the first one builds the engine.
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng, initBackend } from '@deformjs/core';
import { TEST_BACKENDS, assertAllClose, assertNoTensorLeak } from '@deformjs/core/testing';
import { DeformConv2d, ModulatedDeformConv2d, deformConv2d, type DeformConvLayerOptions } from '../src/index';
import { loadFixture, toTensor } from './helpers';

const shapes = (layer: DeformConv2d | ModulatedDeformConv2d) =>
  layer.namedParameters().map(([n, p]) => `${n}:${p.variable.shape.join('x')}`);

describe.each(TEST_BACKENDS)('deformable conv layers on %s', (backend) => {
  beforeAll(async () => {
    await initBackend(backend);
  });

  it("registers mmcv's state_dict keys with zero-initialised offset branches", () => {
    const v1 = new DeformConv2d(new Rng(1), 4, 6, 3, { padding: 1, deformGroups: 2 });
    const v2 = new ModulatedDeformConv2d(new Rng(1), 4, 6, [3, 2], { padding: 1, groups: 2, bias: false });
    expect(shapes(v1)).toEqual(['weight:3x3x4x6', 'bias:6', 'conv_offset.weight:3x3x4x36', 'conv_offset.bias:36']);
    expect(shapes(v2)).toEqual(['weight:3x2x2x6', 'conv_offset.weight:3x2x4x18', 'conv_offset.bias:18']);
    for (const layer of [v1, v2]) {
      const offsetWeights = layer.namedParameters().filter(([n]) => n.startsWith('conv_offset'));
      for (const [, p] of offsetWeights) expect(Array.from(p.variable.dataSync()).every((v) => v === 0)).toBe(true);
      layer.dispose();
    }
  });

  it('offsetAndMask is the branch forward convolves with: (dy, dx) offsets and a sigmoid mask; no leak', async () => {
    const rng = new Rng(4);
    const layer = new ModulatedDeformConv2d(rng, 3, 5, 3, { padding: 2, dilation: 2 });
    tf.tidy(() => layer.convOffset.weight.assign(rng.normalTensor(layer.convOffset.weight.shape, 0, 0.5)));
    const x = rng.normalTensor([1, 6, 7, 3]) as tf.Tensor4D;
    const { offset, mask } = await assertNoTensorLeak(() => layer.offsetAndMask(x));
    expect([offset.shape, mask.shape]).toEqual([
      [1, 6, 7, 18],
      [1, 6, 7, 9],
    ]);
    expect(Array.from(mask.dataSync()).every((m) => m > 0 && m < 1)).toBe(true);
    const expected = deformConv2d(x, offset, layer.weight, { mask, bias: layer.bias, pad: 2, dilations: 2 });
    const got = layer.forward(x);
    assertAllClose(got.dataSync(), expected.dataSync(), { atol: 1e-6, rtol: 1e-6 });
    tf.dispose([x, offset, mask, expected, got]);
    layer.dispose();
  });

  it.each([
    [
      { stride: 2, padding: [1, 0] },
      [
        [0, 0],
        [1, 1],
        [0, 0],
        [0, 0],
      ],
      2,
      1,
    ],
    [
      { padding: [1, 2], dilation: [1, 2] },
      [
        [0, 0],
        [1, 1],
        [2, 2],
        [0, 0],
      ],
      1,
      [1, 2],
    ],
  ] as const)(
    'equals the plain conv (v1) and half of it (v2) at initialisation: %j',
    (options, pad, strides, dilations) => {
      const rng = new Rng(2);
      const layerOptions = options as DeformConvLayerOptions;
      const v1 = new DeformConv2d(rng, 3, 4, 3, layerOptions);
      const v2 = new ModulatedDeformConv2d(rng, 3, 4, 3, layerOptions);
      tf.tidy(() => {
        const x = rng.uniformTensor([2, 7, 6, 3], -1, 1) as tf.Tensor4D;
        const explicit = pad as unknown as [[number, number], [number, number], [number, number], [number, number]];
        const plain = (w: tf.Variable) =>
          tf.conv2d(x, w as tf.Tensor4D, strides, explicit, 'NHWC', dilations as number | [number, number]);
        assertAllClose(v1.forward(x), plain(v1.weight), { atol: 1e-5 });
        assertAllClose(v2.forward(x), tf.mul(plain(v2.weight), 0.5), { atol: 1e-5 });
      });
      v1.dispose();
      v2.dispose();
    },
  );

  it.each(['mdconv_layer_3x3.json', 'mdconv_layer_dilated.json'])(
    'loads a PyTorch state_dict and matches its output and gradients: %s',
    async (name) => {
      type Entry = { shape: number[]; data: number[] };
      const f = loadFixture(name) as unknown as {
        options: {
          inChannels: number;
          outChannels: number;
          kernelSize: [number, number];
          stride: [number, number];
          padding: [number, number];
          dilation: [number, number];
          groups: number;
          deformGroups: number;
        };
        stateDict: Record<string, Entry>;
        gradStateDict: Record<string, Entry>;
        input: Entry;
        output: Entry;
        gradOutput: Entry;
        gradInput: Entry;
      };
      const o = f.options;
      const layer = new ModulatedDeformConv2d(new Rng(3), o.inChannels, o.outChannels, o.kernelSize, o);
      const dict = Object.fromEntries(Object.entries(f.stateDict).map(([k, v]) => [k, toTensor(v)]));
      layer.loadStateDict(dict, { torchLayout: true });
      tf.dispose(Object.values(dict));
      const x = toTensor(f.input) as tf.Tensor4D;
      const gradOutput = toTensor(f.gradOutput);
      await assertNoTensorLeak(() => {
        const out = layer.forward(x);
        expect(out.shape).toEqual(f.output.shape);
        assertAllClose(out, f.output.data, { atol: 2e-5, rtol: 1e-4, name });
        out.dispose();
        const loss = (input: tf.Tensor) => tf.sum(tf.mul(layer.forward(input as tf.Tensor4D), gradOutput)) as tf.Scalar;
        const dx = tf.grad(loss)(x);
        assertAllClose(dx, f.gradInput.data, { atol: 1e-4, rtol: 1e-4, name: `${name} dx` });
        const params = layer.namedParameters();
        const { value, grads } = tf.variableGrads(
          () => loss(x),
          params.map(([, p]) => p.variable),
        );
        for (const [key, p] of params) {
          const inTorchLayout = tf.tidy(() =>
            p.layout === 'conv2d'
              ? tf.transpose(grads[p.variable.name], [3, 2, 0, 1])
              : tf.clone(grads[p.variable.name]),
          );
          assertAllClose(inTorchLayout, f.gradStateDict[key].data, { atol: 1e-4, rtol: 1e-4, name: `${name} d${key}` });
          inTorchLayout.dispose();
        }
        tf.dispose([dx, value, ...Object.values(grads)]);
      });
      tf.dispose([x, gradOutput]);
      layer.dispose();
    },
  );

  it.each([
    ['DeformConv2d', { padding: 1, deformGroups: 2 }],
    ['ModulatedDeformConv2d', { padding: 1, dilation: 2, groups: 2 }],
  ] as const)('%s trains: the loss falls with a flat tensor count', async (kind, options) => {
    const rng = new Rng(4);
    const make = kind === 'DeformConv2d' ? DeformConv2d : ModulatedDeformConv2d;
    const layer = new make(rng, 4, 4, 3, options);
    const teacher = new make(rng, 4, 4, 3, options);
    const x = rng.uniformTensor([2, 6, 6, 4], -1, 1) as tf.Tensor4D;
    const target = teacher.forward(x);
    const optimizer = tf.train.adam(0.03);
    const losses: number[] = [];
    const step = () => {
      const loss = optimizer.minimize(
        () => tf.mean(tf.square(tf.sub(layer.forward(x), target))) as tf.Scalar,
        true,
        layer.trainableVariables(),
      );
      losses.push(loss!.dataSync()[0]);
      loss!.dispose();
    };
    step();
    for (let i = 0; i < 3; i++) await assertNoTensorLeak(step);
    for (let i = 0; i < 25; i++) step();
    expect(losses[losses.length - 1]).toBeLessThan(0.2 * losses[0]);
    // The offset branch moved: the layer really is deformable, not a plain conv in disguise.
    const offsetWeight = layer.convOffset.weight.dataSync();
    expect(Math.max(...Array.from(offsetWeight, Math.abs))).toBeGreaterThan(0);
    optimizer.dispose();
    tf.dispose([x, target]);
    layer.dispose();
    teacher.dispose();
  });

  it('runs batch 0 forward and backward', () => {
    const layer = new ModulatedDeformConv2d(new Rng(5), 3, 2, 3, { padding: 1 });
    tf.tidy(() => {
      const x = tf.zeros([0, 4, 4, 3]) as tf.Tensor4D;
      expect(layer.forward(x).shape).toEqual([0, 4, 4, 2]);
      const { grads } = tf.variableGrads(() => tf.sum(layer.forward(x)) as tf.Scalar, layer.trainableVariables());
      for (const g of Object.values(grads)) expect(Array.from(g.dataSync()).every((v) => v === 0)).toBe(true);
    });
    layer.dispose();
  });
});

describe('deformable conv layer errors', () => {
  beforeAll(async () => {
    await initBackend('cpu');
  });

  it('names bad constructor arguments and inputs', () => {
    const rng = new Rng(6);
    expect(() => new ModulatedDeformConv2d(rng, 6, 4, 3, { groups: 4 })).toThrow(
      /ModulatedDeformConv2d: argument 'groups' expected a positive integer dividing inChannels = 6 and outChannels = 4, got 4/,
    );
    expect(() => new DeformConv2d(rng, 6, 4, 3, { deformGroups: 4 })).toThrow(
      /DeformConv2d: argument 'deformGroups' expected a positive integer dividing inChannels = 6, got 4/,
    );
    expect(() => new DeformConv2d(rng, 6, 4, 0)).toThrow(/argument 'kernelSize' expected an integer >= 1, got 0/);
    const layer = new DeformConv2d(rng, 3, 2, 3);
    expect(() => tf.tidy(() => layer.forward(tf.zeros([1, 5, 5, 4]) as tf.Tensor4D))).toThrow(
      /DeformConv2d: argument 'x' expected shape \[N=1, H=5, W=5, 3\] \(dimension 3 = 3\), got "shape \[1, 5, 5, 4\]"/,
    );
    expect(() => tf.tidy(() => layer.forward(tf.zeros([1, 2, 5, 3]) as tf.Tensor4D))).toThrow(
      /argument 'x' expected a dilated kernel \(3 x 3\) no bigger than the padded input \(2 x 5\), got "shape \[1, 2, 5, 3\], padding \[0, 0\]"/,
    );
    layer.dispose();
  });
});
