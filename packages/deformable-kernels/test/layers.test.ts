import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { Rng, fromTorchLayout, initBackend, type Module } from '@deformjs/core';
import { TEST_BACKENDS, assertAllClose, assertNoTensorLeak } from '@deformjs/core/testing';
import { describe, expect, it } from 'vitest';
import {
  DeformKernel2d,
  DeformKernelConv2d,
  GlobalDeformKernel2d,
  LocalDeformKernel2d,
  deformKernelConv2d,
  deformKernelDepthwise,
} from '../src/index';

interface Entry {
  shape: number[];
  values: number[];
}

interface LayerCase {
  name: string;
  kind: 'local' | 'global' | 'conv';
  config: {
    channels: number;
    kernelSize: [number, number];
    scope: [number, number];
    stride: [number, number];
    padding: [number, number];
    dilation: [number, number];
    rotationGroups: number;
  };
  input: Entry;
  params: Record<string, Entry>;
  output: Entry;
  cotangent: Entry;
  grad_input: Entry;
  grad_params: Record<string, Entry>;
}

const fixtures: { layers: LayerCase[] } = JSON.parse(
  readFileSync(new URL('./fixtures/deformable_kernels.json', import.meta.url), 'utf8'),
);

type AnyLayer = LocalDeformKernel2d | GlobalDeformKernel2d | DeformKernelConv2d;

type Kind = LayerCase['kind'] | 'dk+dcn';

function build(kind: Kind, config: LayerCase['config'], seed = 1): AnyLayer {
  const options = {
    channels: config.channels,
    scope: config.scope,
    kernelSize: config.kernelSize,
    stride: config.stride,
    padding: config.padding,
    dilation: config.dilation,
    rng: seed,
  };
  if (kind === 'local') return new LocalDeformKernel2d({ ...options, rotationGroups: config.rotationGroups });
  if (kind === 'global') return new GlobalDeformKernel2d(options);
  if (kind === 'dk+dcn') return new DeformKernelConv2d({ ...options, rotationGroups: config.rotationGroups });
  return new DeformKernelConv2d(options);
}

function trainable(module: Module): Array<[string, tf.Variable]> {
  return module
    .namedParameters()
    .filter(([, p]) => p.trainable)
    .map(([name, p]) => [name, p.variable]);
}

describe.each(TEST_BACKENDS)('Deformable Kernels layers on %s', (backend) => {
  it('starts the backend', async () => {
    expect(await initBackend(backend)).toBe(backend);
  });

  it.each(fixtures.layers.map((c) => [c.name, c] as const))(
    'match the official modules (float64 PyTorch port): %s',
    async (_, fixture) => {
      const layer = build(fixture.kind, fixture.config);
      const dict = Object.fromEntries(
        Object.entries(fixture.params).map(([k, e]) => [k, tf.tensor(e.values, e.shape)]),
      );
      layer.loadStateDict(dict, { torchLayout: true });
      tf.dispose(Object.values(dict));
      await assertNoTensorLeak(() => {
        const init = tf.tensor(fixture.input.values, fixture.input.shape);
        const x = tf.variable(init);
        init.dispose();
        const cotangent = tf.tensor(fixture.cotangent.values, fixture.cotangent.shape);
        const params = trainable(layer);
        const { value, grads } = tf.variableGrads(
          () => tf.sum(tf.mul(layer.forward(x), cotangent)) as tf.Scalar,
          [x, ...params.map(([, v]) => v)],
        );
        const out = layer.forward(x);
        assertAllClose(out, fixture.output.values, { atol: 1e-4, rtol: 1e-4, name: `${fixture.name}: output` });
        assertAllClose(grads[x.name], fixture.grad_input.values, {
          atol: 2e-4,
          rtol: 1e-3,
          name: `${fixture.name}: grad input`,
        });
        for (const [name, variable] of params) {
          const layout = layer.namedParameters().find(([n]) => n === name)![1].layout;
          const expected = tf.tidy(() =>
            fromTorchLayout(tf.tensor(fixture.grad_params[name].values, fixture.grad_params[name].shape), layout),
          );
          assertAllClose(grads[variable.name], expected, {
            atol: 3e-4,
            rtol: 1e-3,
            name: `${fixture.name}: grad ${name}`,
          });
          expected.dispose();
        }
        tf.dispose([x, cotangent, value, out, ...Object.values(grads)]);
      });
      layer.dispose();
    },
  );

  it.each(['local', 'global', 'conv', 'dk+dcn'] as const)(
    'a new %s layer is the depthwise conv with the centre crop of its scope kernel',
    (kind) => {
      const config = {
        channels: 6,
        kernelSize: [3, 3] as [number, number],
        scope: [5, 5] as [number, number],
        stride: [2, 2] as [number, number],
        padding: [1, 1] as [number, number],
        dilation: [1, 1] as [number, number],
        rotationGroups: 3,
      };
      const layer = build(kind, config, 4);
      tf.tidy(() => {
        const x = new Rng(3).normalTensor([2, 9, 7, 6]) as tf.Tensor4D;
        const scopeKernel = (
          layer instanceof GlobalDeformKernel2d ? layer.weight : layer.innerConv.weight
        ) as tf.Tensor4D;
        const centre = tf.slice(scopeKernel, [1, 1, 0, 0], [3, 3, 6, 1]) as tf.Tensor4D;
        assertAllClose(layer.forward(x), tf.depthwiseConv2d(x, centre, 2, 1), { atol: 1e-5, name: kind });
      });
      layer.dispose();
    },
  );

  it('use the official state_dict names and PyTorch shapes', () => {
    const common = { channels: 8, scope: 4, kernelSize: 3, padding: 1, rng: 2 };
    const shapes = (m: Module) => {
      const dict = m.stateDict({ torchLayout: true });
      const out = Object.fromEntries(Object.entries(dict).map(([k, t]) => [k, t.shape]));
      tf.dispose(Object.values(dict));
      m.dispose();
      return out;
    };
    expect(shapes(new LocalDeformKernel2d({ ...common, rotationGroups: 2 }))).toEqual({
      'rotation_conv.weight': [36, 8, 3, 3],
      'rotation_conv.bias': [36],
      'inner_conv.weight': [8, 1, 4, 4],
    });
    expect(shapes(new GlobalDeformKernel2d(common))).toEqual({
      weight: [8, 1, 4, 4],
      'fc.weight': [18, 8],
      'fc.bias': [18],
    });
    expect(shapes(new DeformKernelConv2d(common))).toEqual({
      'offset_conv.weight': [18, 8, 3, 3],
      'offset_conv.bias': [18],
      'inner_conv.weight': [8, 1, 4, 4],
    });
    expect(DeformKernel2d).toBe(LocalDeformKernel2d);
  });

  it('construction and dispose leave the tensor count flat', async () => {
    await assertNoTensorLeak(() => {
      for (const kind of ['local', 'global', 'conv', 'dk+dcn'] as const) {
        build(kind, {
          channels: 4,
          kernelSize: [3, 3],
          scope: [4, 4],
          stride: [1, 1],
          padding: [1, 1],
          dilation: [1, 1],
          rotationGroups: 2,
        }).dispose();
      }
    });
  });

  it('DK + DCN (rotationGroups) moves the image taps by offset_conv and the kernel taps by rotation_conv', () => {
    const layer = new DeformKernelConv2d({
      channels: 4,
      scope: 4,
      kernelSize: 3,
      padding: 1,
      rotationGroups: 2,
      rng: 5,
    });
    const keys = layer.namedParameters().map(([name]) => name);
    expect(keys).toEqual([
      'offset_conv.weight',
      'offset_conv.bias',
      'rotation_conv.weight',
      'rotation_conv.bias',
      'inner_conv.weight',
    ]);
    tf.tidy(() => {
      const rng = new Rng(9);
      for (const conv of [layer.offsetConv, layer.rotationConv!]) {
        conv.weight.assign(rng.uniformTensor(conv.weight.shape, -0.2, 0.2));
        conv.bias!.assign(rng.uniformTensor(conv.bias!.shape, -0.6, 0.6));
      }
      const x = rng.normalTensor([2, 5, 6, 4]) as tf.Tensor4D;
      const expected = deformKernelConv2d(
        x,
        layer.innerConv.weight,
        layer.offsetConv.forward(x),
        layer.rotationConv!.forward(x),
        { kernelSize: 3, padding: 1 },
      );
      assertAllClose(layer.forward(x), expected, { atol: 1e-6, name: 'dk+dcn' });
    });
    expect(() => new DeformKernelConv2d({ channels: 6, scope: 4, kernelSize: 3, rotationGroups: 4 })).toThrow(
      /DeformKernelConv2d: argument 'rotationGroups' expected a divisor of channels = 6, got 4/,
    );
    layer.dispose();
  });

  it("rotationClip 'scope' keeps every tap inside the scope", () => {
    const layer = new LocalDeformKernel2d({
      channels: 2,
      scope: 4,
      kernelSize: 3,
      padding: 1,
      rotationClip: 'scope',
      rng: 3,
    });
    tf.tidy(() => {
      // A huge constant rotation pushes every tap to the scope's far corner (3, 3).
      layer.rotationConv.bias!.assign(tf.fill([18], 100));
      const x = new Rng(1).normalTensor([1, 5, 5, 2]) as tf.Tensor4D;
      const corner = tf.tile(tf.slice(layer.innerConv.weight, [3, 3, 0, 0], [1, 1, 2, 1]), [3, 3, 1, 1]) as tf.Tensor4D;
      assertAllClose(layer.forward(x), tf.depthwiseConv2d(x, corner, 1, 1), {
        atol: 1e-5,
        name: 'clipped to the scope',
      });
    });
    layer.dispose();
  });

  it.each(['local', 'global', 'conv', 'dk+dcn'] as const)(
    '%s: a few SGD steps fit a deformed target, with a flat tensor count',
    async (kind) => {
      // The target is the same layer type with a displaced predictor; the student starts undeformed.
      const config = {
        channels: 4,
        kernelSize: [3, 3] as [number, number],
        scope: [4, 4] as [number, number],
        stride: [1, 1] as [number, number],
        padding: [1, 1] as [number, number],
        dilation: [1, 1] as [number, number],
        rotationGroups: 2,
      };
      const teacher = build(kind, config, 7);
      const student = build(kind, config, 7);
      const predictor =
        teacher instanceof LocalDeformKernel2d
          ? teacher.rotationConv
          : teacher instanceof GlobalDeformKernel2d
            ? teacher.fc
            : teacher.offsetConv;
      predictor.bias!.assign(tf.tidy(() => new Rng(5).uniformTensor(predictor.bias!.shape, -0.6, 0.6)));
      if (teacher instanceof DeformKernelConv2d && teacher.rotationConv) {
        const bias = teacher.rotationConv.bias!;
        bias.assign(tf.tidy(() => new Rng(8).uniformTensor(bias.shape, -0.6, 0.6)));
      }
      const rng = new Rng(6);
      const x = rng.normalTensor([2, 6, 6, 4]);
      const target = teacher.forward(x);
      const optimizer = tf.train.adam(0.05);
      const loss = () => tf.mean(tf.square(tf.sub(student.forward(x), target))) as tf.Scalar;
      const first = tf.tidy(() => loss().dataSync()[0]);
      const variables = student.trainableVariables();
      // The first step creates Adam's moment slots; every later step must leave the count flat.
      optimizer.minimize(loss, true, variables)?.dispose();
      let last = first;
      for (let step = 0; step < 30; step++) {
        await assertNoTensorLeak(() => {
          const value = optimizer.minimize(loss, true, variables)!;
          last = value.dataSync()[0];
          value.dispose();
        });
      }
      expect(Number.isFinite(last)).toBe(true);
      expect(last).toBeLessThan(first * 0.5);
      optimizer.dispose();
      tf.dispose([x, target]);
      teacher.dispose();
      student.dispose();
    },
  );
});

describe('Deformable Kernels layers: argument errors', () => {
  it('name the layer, the argument and the value', async () => {
    await initBackend('cpu');
    expect(() => new LocalDeformKernel2d({ channels: 6, scope: 4, kernelSize: 3, rotationGroups: 4 })).toThrow(
      /LocalDeformKernel2d: argument 'rotationGroups' expected a divisor of channels = 6, got 4/,
    );
    expect(() => new LocalDeformKernel2d({ channels: 6, scope: 4, kernelSize: 3, rotationClip: [1, 0] })).toThrow(
      /argument 'rotationClip'/,
    );
    expect(() => new GlobalDeformKernel2d({ channels: 0, scope: 4, kernelSize: 3 })).toThrow(
      /GlobalDeformKernel2d: argument 'channels' expected an integer >= 1, got 0/,
    );
    expect(() => new DeformKernelConv2d({ channels: 2, scope: [4], kernelSize: 3 } as never)).toThrow(
      /DeformKernelConv2d: argument 'scope'/,
    );
    expect(() => new LocalDeformKernel2d({ channels: 2, scope: [4, 2], kernelSize: 3 })).toThrow(
      /LocalDeformKernel2d: argument 'scope' expected at least kernelSize \[3,3\] in each dimension, got \[4, 2\]/,
    );
    const small = tf.zeros([2, 2, 2, 1]);
    const input = tf.zeros([1, 5, 5, 2]);
    const deltas = tf.zeros([1, 3, 3, 18]);
    expect(() => deformKernelDepthwise(input, small, deltas, { kernelSize: 3 })).toThrow(
      /deformKernelDepthwise: argument 'weight' expected a scope \[scopeH, scopeW, C, 1\] at least kernelSize \[3,3\], got \[2, 2, 2, 1\]/,
    );
    tf.dispose([small, input, deltas]);
    // A bad rng is refused before any parameter exists: nothing leaks.
    for (const Layer of [LocalDeformKernel2d, GlobalDeformKernel2d, DeformKernelConv2d]) {
      await assertNoTensorLeak(() => {
        expect(() => new Layer({ channels: 2, scope: 4, kernelSize: 3, rng: 'seed' as never })).toThrow(
          new RegExp(`${Layer.name}: argument 'rng' expected an Rng or an integer seed, got "seed"`),
        );
      });
    }
    const layer = new DeformKernelConv2d({ channels: 2, scope: 4, kernelSize: 3 });
    const x = tf.zeros([1, 5, 5, 3]);
    expect(() => layer.forward(x)).toThrow(
      /DeformKernelConv2d: argument 'x' expected shape \[N=1, H=5, W=5, 2\] \(dimension 3 = 2\), got "shape \[1, 5, 5, 3\]"/,
    );
    x.dispose();
    layer.dispose();
  });
});
