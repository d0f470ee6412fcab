import * as tf from '@tensorflow/tfjs-core';
// After tfjs-core itself: imported first, it leaves tfjs's chained ops (tensor.clone) unset.
import { describe, expect, it } from 'vitest';
import { initBackend, Rng, toTorchLayout, type Module, type TorchLayout } from '@deformjs/core';
import { TEST_BACKENDS, assertAllClose, assertNoTensorLeak } from '@deformjs/core/testing';
import { ConvTranspose2d, DepthwiseConv2d } from '../src/index';
import { fixture } from './helpers';

/** One case of scripts/make_conv_fixtures.py: float64 PyTorch, NHWC tensors, PyTorch-layout weights. */
interface ConvCase {
  inputShape: number[];
  outShape: number[];
  x: number[];
  weight: number[];
  bias: number[] | null;
  y: number[];
  g: number[];
  dx: number[];
  dweight: number[];
  dbias: number[] | null;
  kernelSize: number | [number, number];
  stride: number | [number, number];
  padding: number | [number, number];
}
interface DepthwiseCase extends ConvCase {
  channels: number;
  dilation: number | [number, number];
}
interface TransposeCase extends ConvCase {
  inChannels: number;
  outChannels: number;
  outputPadding: number | [number, number];
}

const depthwiseCases = fixture<DepthwiseCase[]>('depthwise_conv.json');
const transposeCases = fixture<TransposeCase[]>('conv_transpose.json');

/**
 * Loads the case's PyTorch weights into `layer` (layout converted), then checks the output and the gradients
 * of sum(y * g) for the input, weight and bias against float64 PyTorch, with a flat tensor count.
 */
async function checkAgainstTorch(
  layer: Module & { forward(x: tf.Tensor): tf.Tensor; weight: tf.Variable; bias: tf.Variable | null },
  c: ConvCase,
  torchWeightShape: number[],
  layout: TorchLayout,
): Promise<void> {
  const weight = tf.tensor(c.weight, torchWeightShape);
  const entries: Record<string, tf.Tensor> = { weight };
  if (c.bias) entries.bias = tf.tensor(c.bias);
  layer.loadStateDict(entries, { torchLayout: true });
  const x = tf.tensor(c.x, c.inputShape);
  const g = tf.tensor(c.g, c.outShape);
  await assertNoTensorLeak(() => {
    const y = layer.forward(x);
    expect(y.shape).toEqual(c.outShape);
    assertAllClose(y, c.y, { atol: 1e-4, name: 'y' });
    const objective = (input: tf.Tensor) => tf.sum(tf.mul(layer.forward(input), g)) as tf.Scalar;
    const dx = tf.grad(objective)(x);
    assertAllClose(dx, c.dx, { atol: 1e-4, name: 'dx' });
    const variables = layer.bias ? [layer.weight, layer.bias] : [layer.weight];
    const { value, grads } = tf.variableGrads(() => objective(x), variables);
    const exported = tf.tidy(() => toTorchLayout(grads[layer.weight.name], layout));
    assertAllClose(exported, c.dweight, { atol: 1e-3, name: 'dweight' });
    if (layer.bias) assertAllClose(grads[layer.bias.name], c.dbias!, { atol: 1e-3, name: 'dbias' });
    tf.dispose([y, dx, value, exported, ...Object.values(grads)]);
  });
  tf.dispose([x, g, ...Object.values(entries)]);
}

for (const backend of TEST_BACKENDS) {
  describe(`DepthwiseConv2d and ConvTranspose2d on ${backend}`, () => {
    it.each(depthwiseCases.map((c, i) => [i, c] as const))(
      'DepthwiseConv2d case %i equals nn.Conv2d(groups=C) in float64, output and gradients',
      async (_, c) => {
        await initBackend(backend);
        const layer = new DepthwiseConv2d(new Rng(0), c.channels, c.kernelSize, {
          stride: c.stride,
          padding: c.padding,
          dilation: c.dilation,
          bias: c.bias !== null,
        });
        const [kh, kw] = layer.weight.shape;
        await checkAgainstTorch(layer, c, [c.channels, 1, kh, kw], 'depthwise');
        layer.dispose();
      },
    );

    it.each(transposeCases.map((c, i) => [i, c] as const))(
      'ConvTranspose2d case %i equals nn.ConvTranspose2d in float64, output and gradients',
      async (_, c) => {
        await initBackend(backend);
        const layer = new ConvTranspose2d(new Rng(0), c.inChannels, c.outChannels, c.kernelSize, {
          stride: c.stride,
          padding: c.padding,
          outputPadding: c.outputPadding,
          bias: c.bias !== null,
        });
        const [kh, kw] = layer.kernelSize;
        await checkAgainstTorch(layer, c, [c.inChannels, c.outChannels, kh, kw], 'conv2d');
        layer.dispose();
      },
    );
  });
}

describe('DepthwiseConv2d and ConvTranspose2d names and errors', () => {
  it('keep PyTorch state_dict names and shapes', async () => {
    await initBackend('wasm');
    const dw = new DepthwiseConv2d(new Rng(0), 5, 3, { padding: 1 });
    const up = new ConvTranspose2d(new Rng(0), 4, 2, 3, { stride: 2, padding: 1, outputPadding: 1, bias: false });
    const shapes = (m: DepthwiseConv2d | ConvTranspose2d) =>
      tf.tidy(() =>
        Object.fromEntries(Object.entries(m.stateDict({ torchLayout: true })).map(([k, t]) => [k, t.shape])),
      );
    expect(shapes(dw)).toEqual({ weight: [5, 1, 3, 3], bias: [5] });
    expect(shapes(up)).toEqual({ weight: [4, 2, 3, 3] });
    // Exact doubling, the decoder's use.
    const y = tf.tidy(() => up.forward(tf.zeros([1, 5, 6, 4])));
    expect(y.shape).toEqual([1, 10, 12, 2]);
    tf.dispose(y);
    dw.dispose();
    up.dispose();
  });

  it('errors name the argument, the expected and the actual value', async () => {
    await initBackend('wasm');
    const rng = new Rng(0);
    expect(() => new DepthwiseConv2d(rng, 0, 3)).toThrow(/DepthwiseConv2d.*channels.*>= 1.*0/);
    expect(() => new DepthwiseConv2d(rng, 4, 3, { stride: 0 })).toThrow(/DepthwiseConv2d.*stride/);
    expect(() => new ConvTranspose2d(rng, 2, 2, 3, { stride: 2, outputPadding: 2 })).toThrow(
      /ConvTranspose2d.*outputPadding.*below the stride \[2, 2\].*2/,
    );
    expect(() => new ConvTranspose2d(rng, 2, 2, 3, { padding: -1 })).toThrow(/ConvTranspose2d.*padding/);
    const dw = new DepthwiseConv2d(rng, 4, 3);
    expect(() => dw.forward(tf.zeros([1, 5, 5, 3]))).toThrow(/DepthwiseConv2d.*'x'.*dimension 3 = 4.*\[1, 5, 5, 3\]/);
    const up = new ConvTranspose2d(rng, 2, 2, 1, { padding: 1 });
    expect(() => up.forward(tf.zeros([1, 1, 1, 2]))).toThrow(/ConvTranspose2d.*'x'.*non-empty output/);
    dw.dispose();
    up.dispose();
  });
});
