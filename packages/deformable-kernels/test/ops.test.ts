import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { Rng, fromTorchLayout, initBackend } from '@deformjs/core';
import { TEST_BACKENDS, assertAllClose, assertNoTensorLeak, numericalGradient } from '@deformjs/core/testing';
import { describe, expect, it } from 'vitest';
import { deformKernelConv2d, deformKernelDepthwise, globalDeformKernelDepthwise } from '../src/index';
import { referenceDeformKernel, type ReferenceConfig } from './reference';

interface Entry {
  shape: number[];
  values: number[];
}

interface OpCase {
  name: string;
  kind: 'local' | 'conv' | 'global';
  config: {
    kernelSize: [number, number];
    stride: [number, number];
    padding: [number, number];
    dilation: [number, number];
    rotationGroups: number;
  };
  inputs: Record<string, Entry>;
  output: Entry;
  cotangent: Entry;
  grads: Record<string, Entry>;
}

const fixtures: { ops: OpCase[] } = JSON.parse(
  readFileSync(new URL('./fixtures/deformable_kernels.json', import.meta.url), 'utf8'),
);

const toTensor = (e: Entry) => tf.tensor(e.values, e.shape);

/** Runs a fixture's op on tensors named as in the fixture (weight in our layout). */
function runCase(fixture: OpCase, t: Record<string, tf.Tensor>): tf.Tensor {
  const options = {
    kernelSize: fixture.config.kernelSize,
    stride: fixture.config.stride,
    padding: fixture.config.padding,
    dilation: fixture.config.dilation,
  };
  if (fixture.kind === 'local') return deformKernelDepthwise(t.input, t.weight, t.deltas, options);
  if (fixture.kind === 'global') return globalDeformKernelDepthwise(t.input, t.weight, t.deltas, options);
  return deformKernelConv2d(t.input, t.weight, t.offsets, t.deltas ?? null, options);
}

function crop(weight: tf.Tensor4D, top: number, left: number, k: number): tf.Tensor4D {
  const [, , c] = weight.shape;
  return tf.slice(weight, [top, left, 0, 0], [k, k, c, 1]);
}

describe.each(TEST_BACKENDS)('Deformable Kernels ops on %s', (backend) => {
  it('starts the backend', async () => {
    expect(await initBackend(backend)).toBe(backend);
  });

  it.each(fixtures.ops.map((c) => [c.name, c] as const))(
    'match the float64 PyTorch reference: %s',
    async (_, fixture) => {
      await assertNoTensorLeak(() => {
        const names = Object.keys(fixture.inputs);
        const tensors = Object.fromEntries(
          names.map((k) => [
            k,
            tf.tidy(() =>
              k === 'weight' ? fromTorchLayout(toTensor(fixture.inputs[k]), 'depthwise') : toTensor(fixture.inputs[k]),
            ),
          ]),
        );
        const cotangent = toTensor(fixture.cotangent);
        const grads = tf.grads((...args: tf.Tensor[]) =>
          tf.sum(tf.mul(runCase(fixture, Object.fromEntries(names.map((k, i) => [k, args[i]]))), cotangent)),
        )(names.map((k) => tensors[k]));
        const out = runCase(fixture, tensors);
        assertAllClose(out, fixture.output.values, { atol: 1e-4, rtol: 1e-4, name: `${fixture.name}: output` });
        names.forEach((k, i) => {
          const expected = tf.tidy(() =>
            k === 'weight' ? fromTorchLayout(toTensor(fixture.grads[k]), 'depthwise') : toTensor(fixture.grads[k]),
          );
          assertAllClose(grads[i], expected, { atol: 2e-4, rtol: 1e-3, name: `${fixture.name}: grad ${k}` });
          expected.dispose();
        });
        tf.dispose([...Object.values(tensors), cotangent, out, ...grads]);
      });
    },
  );

  it.each([
    { scope: 5, k: 3, stride: 1, padding: 1, dilation: 1 },
    { scope: 7, k: 3, stride: 2, padding: 2, dilation: 1 },
    { scope: 5, k: 3, stride: 1, padding: 2, dilation: 2 },
    { scope: 3, k: 3, stride: 1, padding: 0, dilation: 1 },
  ])(
    'with zero deltas equal tf.depthwiseConv2d with the centre crop (scope - k even): %o',
    ({ scope, k, stride, padding, dilation }) => {
      tf.tidy(() => {
        const rng = new Rng(1);
        const x = rng.normalTensor([2, 9, 8, 6]) as tf.Tensor4D;
        const weight = rng.normalTensor([scope, scope, 6, 1]) as tf.Tensor4D;
        const centre = crop(weight, (scope - k) / 2, (scope - k) / 2, k);
        const expected = tf.depthwiseConv2d(x, centre, stride, padding, 'NHWC', dilation);
        const [, Ho, Wo] = expected.shape;
        const options = { kernelSize: k, stride, padding, dilation };
        for (const groups of [1, 3]) {
          const local = deformKernelDepthwise(x, weight, tf.zeros([2, Ho, Wo, groups * k * k * 2]), options);
          assertAllClose(local, expected, { atol: 1e-5, name: `local, ${groups} groups` });
        }
        assertAllClose(deformKernelConv2d(x, weight, tf.zeros([2, Ho, Wo, k * k * 2]), null, options), expected, {
          atol: 1e-5,
          name: 'conv',
        });
        assertAllClose(globalDeformKernelDepthwise(x, weight, tf.zeros([2, k * k * 2]), options), expected, {
          atol: 1e-5,
          name: 'global',
        });
      });
    },
  );

  it('with zero deltas and scope = k + 1 (odd difference) convolve with the 2x2 average of the scope kernel', () => {
    tf.tidy(() => {
      const rng = new Rng(2);
      const x = rng.normalTensor([1, 7, 6, 4]) as tf.Tensor4D;
      const weight = rng.normalTensor([4, 4, 4, 1]) as tf.Tensor4D;
      // [4, 4, C, 1] -> treat (C, 1) as the batch of a 2x2 valid average pool over the scope.
      const asImages = tf.transpose(weight, [2, 0, 1, 3]) as tf.Tensor4D; // [C, 4, 4, 1]
      const averaged = tf.transpose(tf.avgPool(asImages, 2, 1, 'valid'), [1, 2, 0, 3]) as tf.Tensor4D; // [3, 3, C, 1]
      const expected = tf.depthwiseConv2d(x, averaged, 1, 1);
      const local = deformKernelDepthwise(x, weight, tf.zeros([1, 7, 6, 18]), { kernelSize: 3, padding: 1 });
      assertAllClose(local, expected, { atol: 1e-5, name: 'odd scope' });
    });
  });

  const referenceCases: Array<{
    name: string;
    offsets: boolean;
    deltas: boolean;
    groups: number;
    config: ReferenceConfig;
    shape: [number, number, number, number];
    scope: [number, number];
  }> = [
    {
      name: 'local, 2 groups, stride 2',
      offsets: false,
      deltas: true,
      groups: 2,
      config: { kernel: [3, 3], stride: [2, 1], padding: [1, 1], dilation: [1, 1] },
      shape: [1, 6, 5, 4],
      scope: [4, 5],
    },
    {
      name: 'conv with offsets and deltas, dilation 2',
      offsets: true,
      deltas: true,
      groups: 2,
      config: { kernel: [2, 3], stride: [1, 1], padding: [1, 2], dilation: [2, 2] },
      shape: [2, 5, 5, 2],
      scope: [4, 4],
    },
  ];

  it.each(referenceCases)(
    'fused gradients equal autodiff of a composed tf-op reference: $name',
    async ({ offsets, deltas, groups, config, shape, scope }) => {
      await assertNoTensorLeak(() =>
        tf.tidy(() => {
          const rng = new Rng(5);
          const [N, H, W, C] = shape;
          const [kh, kw] = config.kernel;
          const Ho = Math.floor((H + 2 * config.padding[0] - config.dilation[0] * (kh - 1) - 1) / config.stride[0]) + 1;
          const Wo = Math.floor((W + 2 * config.padding[1] - config.dilation[1] * (kw - 1) - 1) / config.stride[1]) + 1;
          const x = rng.normalTensor(shape) as tf.Tensor4D;
          const weight = rng.normalTensor([scope[0], scope[1], C, 1]) as tf.Tensor4D;
          const d = rng.uniformTensor([N, Ho, Wo, groups * kh * kw * 2], -1.6, 1.6) as tf.Tensor4D;
          const o = rng.uniformTensor([N, Ho, Wo, kh * kw * 2], -1.6, 1.6) as tf.Tensor4D;
          const cotangent = rng.normalTensor([N, Ho, Wo, C]);
          const options = {
            kernelSize: config.kernel,
            stride: config.stride,
            padding: config.padding,
            dilation: config.dilation,
          };
          // Differentiate with respect to the arguments the op uses.
          const names = ['input', 'weight', ...(deltas ? ['deltas'] : []), ...(offsets ? ['offsets'] : [])];
          const unpack = (args: tf.Tensor[]) => Object.fromEntries(names.map((k, i) => [k, args[i]]));
          const ours = (...args: tf.Tensor[]) => {
            const t = unpack(args);
            const out = offsets
              ? deformKernelConv2d(t.input, t.weight, t.offsets, deltas ? t.deltas : null, options)
              : deformKernelDepthwise(t.input, t.weight, t.deltas, options);
            return tf.sum(tf.mul(out, cotangent));
          };
          const reference = (...args: tf.Tensor[]) => {
            const t = unpack(args);
            const out = referenceDeformKernel(
              t.input as tf.Tensor4D,
              t.weight as tf.Tensor4D,
              (t.deltas as tf.Tensor4D) ?? null,
              (t.offsets as tf.Tensor4D) ?? null,
              groups,
              config,
            );
            return tf.sum(tf.mul(out, cotangent));
          };
          const inputs = [x, weight, ...(deltas ? [d] : []), ...(offsets ? [o] : [])];
          const got = tf.grads(ours)(inputs);
          const want = tf.grads(reference)(inputs);
          assertAllClose(ours(...inputs), reference(...inputs), { atol: 1e-4, name: 'value' });
          names.forEach((name, i) => assertAllClose(got[i], want[i], { atol: 1e-4, rtol: 1e-4, name: `grad ${name}` }));
        }),
      );
    },
  );

  it('gradients match central finite differences (local and conv)', () => {
    tf.tidy(() => {
      const rng = new Rng(8);
      const x = rng.normalTensor([1, 4, 4, 2]);
      const weight = rng.normalTensor([4, 4, 2, 1]);
      const deltas = rng.uniformTensor([1, 4, 4, 2 * 9 * 2], -1.3, 1.3);
      const offsets = rng.uniformTensor([1, 4, 4, 9 * 2], -1.3, 1.3);
      const cotangent = rng.normalTensor([1, 4, 4, 2]);
      const options = { kernelSize: 3, padding: 1 };
      const loss = (a: tf.Tensor, w: tf.Tensor, d: tf.Tensor, o: tf.Tensor) =>
        tf.sum(
          tf.mul(tf.add(deformKernelDepthwise(a, w, d, options), deformKernelConv2d(a, w, o, d, options)), cotangent),
        );
      const analytic = tf.grads(loss)([x, weight, deltas, offsets]);
      const args = [x, weight, deltas, offsets];
      args.forEach((arg, index) => {
        const numeric = numericalGradient(
          (v) =>
            tf.tidy(
              () =>
                loss(
                  ...(args.map((a, i) => (i === index ? tf.tensor(v, arg.shape) : a)) as [
                    tf.Tensor,
                    tf.Tensor,
                    tf.Tensor,
                    tf.Tensor,
                  ]),
                ).dataSync()[0],
            ),
          arg.dataSync(),
          1e-3,
        );
        assertAllClose(analytic[index], numeric, {
          atol: 3e-2,
          rtol: 2e-2,
          name: `finite differences, argument ${index}`,
        });
      });
    });
  });

  it('the global variant clamps positions into the scope and passes no gradient through the clamp', () => {
    tf.tidy(() => {
      const rng = new Rng(9);
      const x = rng.normalTensor([1, 5, 5, 3]);
      const weight = rng.normalTensor([4, 4, 3, 1]) as tf.Tensor4D;
      // Every tap pushed far outside: positions clamp to the corner (scope - 1, scope - 1) or (0, 0).
      const far = tf.fill([1, 18], 50);
      const corner = tf.tile(tf.slice(weight, [3, 3, 0, 0], [1, 1, 3, 1]), [3, 3, 1, 1]) as tf.Tensor4D;
      assertAllClose(
        globalDeformKernelDepthwise(x, weight, far, { kernelSize: 3, padding: 1 }),
        tf.depthwiseConv2d(x as tf.Tensor4D, corner, 1, 1),
        { atol: 1e-5, name: 'clamped high' },
      );
      const origin = tf.tile(tf.slice(weight, [0, 0, 0, 0], [1, 1, 3, 1]), [3, 3, 1, 1]) as tf.Tensor4D;
      assertAllClose(
        globalDeformKernelDepthwise(x, weight, tf.fill([1, 18], -50), { kernelSize: 3, padding: 1 }),
        tf.depthwiseConv2d(x as tf.Tensor4D, origin, 1, 1),
        { atol: 1e-5, name: 'clamped low' },
      );
      const grad = tf.grad((d: tf.Tensor) =>
        tf.sum(globalDeformKernelDepthwise(x, weight, d, { kernelSize: 3, padding: 1 })),
      )(far);
      expect(Array.from(grad.dataSync()).every((v) => v === 0)).toBe(true);
    });
  });
});

describe('Deformable Kernels ops: argument errors', () => {
  it('name the op, the argument, the expectation and what came', async () => {
    await initBackend('cpu');
    tf.tidy(() => {
      const x = tf.zeros([1, 5, 5, 4]);
      const w = tf.zeros([4, 4, 4, 1]);
      const options = { kernelSize: 3, padding: 1 };
      expect(() => deformKernelDepthwise(x, tf.zeros([4, 4, 3, 1]), tf.zeros([1, 5, 5, 18]), options)).toThrow(
        /deformKernelDepthwise: argument 'weight' expected shape \[sH=4, sW=4, C=4, 1\] \(dimension 2 = C = 4\), got "shape \[4, 4, 3, 1\]"/,
      );
      expect(() => deformKernelDepthwise(x, tf.zeros([4, 4, 4, 2]), tf.zeros([1, 5, 5, 18]), options)).toThrow(
        /argument 'weight'.*dimension 3 = 1/,
      );
      expect(() => deformKernelDepthwise(x, w, tf.zeros([1, 5, 5, 20]), options)).toThrow(
        /argument 'deltas' expected channels \(dimension 3\) R \* kh \* kw \* 2 = R \* 18 with R rotation groups dividing C = 4, got \[1, 5, 5, 20\]/,
      );
      expect(() => deformKernelDepthwise(x, w, tf.zeros([1, 5, 5, 54]), options)).toThrow(/dividing C = 4/);
      expect(() => deformKernelDepthwise(x, w, tf.zeros([1, 4, 5, 18]), options)).toThrow(
        /argument 'deltas' expected shape \[N=1, Ho=5, Wo=5, \*\]/,
      );
      expect(() => deformKernelDepthwise(x, w, tf.zeros([1, 5, 5, 18]), {} as never)).toThrow(
        /argument 'options.kernelSize' expected the effective kernel size/,
      );
      // A scope of 7 x 7 so that the kernel fits its scope and the input size is what is refused.
      expect(() =>
        deformKernelDepthwise(x, tf.zeros([7, 7, 4, 1]), tf.zeros([1, 5, 5, 18]), { kernelSize: 7 }),
      ).toThrow(/argument 'input' expected a dilated kernel \(7 x 7\) no bigger than the padded input \(5 x 5\)/);
      expect(() => deformKernelDepthwise(x, w, tf.zeros([1, 5, 5, 18]), { kernelSize: 3, stride: 0 })).toThrow(
        /argument 'stride' expected an integer >= 1, got 0/,
      );
      expect(() => deformKernelConv2d(x, w, tf.zeros([1, 5, 5, 36]), null, options)).toThrow(
        /deformKernelConv2d: argument 'offsets' expected shape \[N=1, Ho=5, Wo=5, 18\]/,
      );
      expect(() => globalDeformKernelDepthwise(x, w, tf.zeros([1, 5, 5, 18]), options)).toThrow(
        /globalDeformKernelDepthwise: argument 'deltas' expected rank 2/,
      );
      expect(() => deformKernelDepthwise(tf.zeros([5, 5, 4]), w, tf.zeros([1, 5, 5, 18]), options)).toThrow(
        /argument 'input' expected rank 4/,
      );
      expect(() => deformKernelDepthwise(tf.zeros([0, 5, 5, 4]), w, tf.zeros([0, 5, 5, 18]), options)).toThrow(
        /argument 'input' expected a batch of at least 1 image, got \[0, 5, 5, 4\]/,
      );
    });
  });
});
