import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { backend_util } from '@tensorflow/tfjs-core';
import type { KernelConfig, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { initBackend, registerTrainingKernels, Rng } from '../src/index';
import { assertAllClose, assertNoTensorLeak, numericalGradient } from '../src/testing';
import { TRAINING_KERNELS } from '../src/kernels/register';
import { im2colLimits, inputGradientRoute } from '../src/kernels/conv2d_backprop';
import convFixtures from './fixtures/conv-grads.json';

type Shape4 = [number, number, number, number];
type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

// The stock kernels, captured before deformjs replaces any of them.
const stock = {
  cpuConv2DBackpropFilter: tf.getKernel('Conv2DBackpropFilter', 'cpu') as KernelConfig,
  cpuConv2DBackpropInput: tf.getKernel('Conv2DBackpropInput', 'cpu') as KernelConfig,
  cpuDepthwiseFilter: tf.getKernel('DepthwiseConv2dNativeBackpropFilter', 'cpu') as KernelConfig,
  cpuDepthwiseInput: tf.getKernel('DepthwiseConv2dNativeBackpropInput', 'cpu') as KernelConfig,
  cpuUnsortedSegmentSum: tf.getKernel('UnsortedSegmentSum', 'cpu') as KernelConfig,
  wasmConv2DBackpropInput: tf.getKernel('Conv2DBackpropInput', 'wasm') as KernelConfig,
};

const rng = new Rng(7);
const randn = (shape: number[]) => rng.normalArray(shape.reduce((a, b) => a * b, 1));

beforeAll(async () => {
  await initBackend('cpu');
  await initBackend('wasm');
});

afterEach(() => {
  im2colLimits.maxColumnElements = 1 << 24;
  inputGradientRoute.route = 'auto';
});

/** Runs a kernel function directly on the active backend (a stock one we captured) and wraps its output. */
function runConfig(config: KernelConfig, inputs: Record<string, tf.Tensor>, attrs: object): tf.Tensor {
  const info = config.kernelFunc({
    inputs: inputs as unknown as Record<string, TensorInfo>,
    backend: tf.backend(),
    attrs: attrs as NamedAttrMap,
  }) as TensorInfo;
  return tf.engine().makeTensorFromTensorInfo(info);
}

/** Runs the registered kernel `name` on `backend` with fresh tensors made from `inputs`; returns the values. */
async function runOn(
  backend: string,
  name: string,
  inputs: Record<string, { values: Float32Array | Int32Array; shape: number[] }>,
  attrs: object,
) {
  await tf.setBackend(backend);
  const backendBefore = tf.backend().numDataIds();
  const made = Object.fromEntries(
    Object.entries(inputs).map(([k, v]) => [
      k,
      tf.tensor(v.values, v.shape, v.values instanceof Int32Array ? 'int32' : 'float32'),
    ]),
  );
  const out = await assertNoTensorLeak(() => tf.engine().runKernel(name, made, attrs as NamedAttrMap) as tf.Tensor);
  const result = { values: out.dataSync().slice(), shape: out.shape, dtype: out.dtype };
  tf.dispose([out, ...Object.values(made)]);
  // Every intermediate buffer the kernel made must be freed, not only the tensors the engine tracks.
  expect(tf.backend().numDataIds()).toBe(backendBefore);
  return result;
}

async function runStockCpu(
  config: KernelConfig,
  inputs: Record<string, { values: Float32Array | Int32Array; shape: number[] }>,
  attrs: object,
) {
  await tf.setBackend('cpu');
  const made = Object.fromEntries(
    Object.entries(inputs).map(([k, v]) => [
      k,
      tf.tensor(v.values, v.shape, v.values instanceof Int32Array ? 'int32' : 'float32'),
    ]),
  );
  const out = runConfig(config, made, attrs);
  const result = { values: out.dataSync().slice(), shape: out.shape, dtype: out.dtype };
  tf.dispose([out, ...Object.values(made)]);
  return result;
}

interface Geometry {
  N: number;
  H: number;
  W: number;
  C: number;
  Ho: number;
  Wo: number;
  Co: number;
  fh: number;
  fw: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  top: number;
  left: number;
}

function geometry(
  xShape: Shape4,
  filterShape: Shape4,
  strides: number | [number, number],
  dilations: number | [number, number],
  pad: Pad,
  depthwise: boolean,
  rounding?: 'floor' | 'round' | 'ceil',
): Geometry {
  const info = backend_util.computeConv2DInfo(xShape, filterShape, strides, dilations, pad, rounding, depthwise);
  return {
    N: info.batchSize,
    H: info.inHeight,
    W: info.inWidth,
    C: info.inChannels,
    Ho: info.outHeight,
    Wo: info.outWidth,
    Co: info.outChannels,
    fh: info.filterHeight,
    fw: info.filterWidth,
    sh: info.strideHeight,
    sw: info.strideWidth,
    dh: info.dilationHeight,
    dw: info.dilationWidth,
    top: info.padInfo.top,
    left: info.padInfo.left,
  };
}

/**
 * Both gradients of a conv2d (or depthwise conv2d) straight from the definition, in float64, NHWC: an independent
 * reference for what the stock kernels do not cover (dilation).
 */
function referenceGradients(x: Float32Array, filter: Float32Array, dy: Float32Array, g: Geometry, depthwise: boolean) {
  const dx = new Float64Array(g.N * g.H * g.W * g.C);
  const dw = new Float64Array(filter.length);
  const M = g.Co / g.C;
  for (let n = 0; n < g.N; n++)
    for (let oh = 0; oh < g.Ho; oh++)
      for (let ow = 0; ow < g.Wo; ow++)
        for (let i = 0; i < g.fh; i++)
          for (let j = 0; j < g.fw; j++) {
            const h = oh * g.sh - g.top + i * g.dh;
            const w = ow * g.sw - g.left + j * g.dw;
            if (h < 0 || h >= g.H || w < 0 || w >= g.W) continue;
            for (let c = 0; c < g.C; c++) {
              const xi = ((n * g.H + h) * g.W + w) * g.C + c;
              const outs = depthwise
                ? Array.from({ length: M }, (_, m) => c * M + m)
                : Array.from({ length: g.Co }, (_, co) => co);
              for (const co of outs) {
                const grad = dy[((n * g.Ho + oh) * g.Wo + ow) * g.Co + co];
                const wi = depthwise
                  ? ((i * g.fw + j) * g.C + c) * M + (co - c * M)
                  : ((i * g.fw + j) * g.C + c) * g.Co + co;
                dx[xi] += filter[wi] * grad;
                dw[wi] += x[xi] * grad;
              }
            }
          }
  return { dx, dw };
}

interface ConvCase {
  name: string;
  x: Shape4;
  filter: Shape4;
  strides: number | [number, number];
  pad: Pad;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

const CONV_CASES: ConvCase[] = [
  {
    name: 'stride 2, same, batch 2, odd channels, non-square filter',
    x: [2, 7, 6, 3],
    filter: [3, 2, 3, 5],
    strides: 2,
    pad: 'same',
  },
  {
    name: 'strides [1, 2], valid, non-square input',
    x: [1, 8, 5, 4],
    filter: [2, 3, 4, 3],
    strides: [1, 2],
    pad: 'valid',
  },
  {
    name: 'explicit asymmetric padding, batch 3',
    x: [3, 5, 7, 1],
    filter: [3, 3, 1, 2],
    strides: 1,
    pad: [
      [0, 0],
      [1, 2],
      [0, 1],
      [0, 0],
    ],
  },
  {
    name: 'numeric pad with ceil rounding, strides [2, 3]',
    x: [2, 9, 8, 5],
    filter: [3, 3, 5, 7],
    strides: [2, 3],
    pad: 1,
    dimRoundingMode: 'ceil',
  },
  {
    name: 'filter larger than the stride-1 same output needs',
    x: [1, 3, 4, 2],
    filter: [5, 4, 2, 3],
    strides: 1,
    pad: 'same',
  },
  {
    name: 'channel counts beyond the 32-wide transpose tiles, stride 2, same',
    x: [2, 19, 23, 40],
    filter: [3, 3, 40, 36],
    strides: 2,
    pad: 'same',
  },
  {
    name: 'channel counts beyond the transpose tiles, stride 1, valid',
    x: [1, 17, 15, 33],
    filter: [3, 2, 33, 34],
    strides: 1,
    pad: 'valid',
  },
  {
    name: 'stride 1 with padding wider than the filter (the col2im path)',
    x: [2, 4, 5, 2],
    filter: [2, 2, 2, 3],
    strides: 1,
    pad: [
      [0, 0],
      [3, 1],
      [2, 2],
      [0, 0],
    ],
  },
];

describe('Conv2DBackpropFilter and Conv2DBackpropInput', () => {
  for (const c of CONV_CASES) {
    it(`match the stock cpu kernels: ${c.name}`, async () => {
      const g = geometry(c.x, c.filter, c.strides, 1, c.pad, false, c.dimRoundingMode);
      const dyShape = [g.N, g.Ho, g.Wo, g.Co];
      const x = { values: randn(c.x), shape: c.x };
      const filter = { values: randn(c.filter), shape: c.filter };
      const dy = { values: randn(dyShape), shape: dyShape };
      const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: c.dimRoundingMode };
      const filterAttrs = { ...attrs, filterShape: c.filter };
      const inputAttrs = { ...attrs, inputShape: c.x };

      const expectedDw = await runStockCpu(stock.cpuConv2DBackpropFilter, { x, dy }, filterAttrs);
      const expectedDx = await runStockCpu(stock.cpuConv2DBackpropInput, { dy, filter }, inputAttrs);
      for (const backend of ['wasm', 'cpu']) {
        const dw = await runOn(backend, 'Conv2DBackpropFilter', { x, dy }, filterAttrs);
        expect(dw.shape).toEqual(c.filter);
        assertAllClose(dw.values, expectedDw.values, { atol: 1e-4, rtol: 1e-4, name: `${backend} dW` });
        // Force several batch chunks of im2col: the result must not change.
        im2colLimits.maxColumnElements = 1;
        const chunked = await runOn(backend, 'Conv2DBackpropFilter', { x, dy }, filterAttrs);
        im2colLimits.maxColumnElements = 1 << 24;
        assertAllClose(chunked.values, expectedDw.values, { atol: 1e-4, rtol: 1e-4, name: `${backend} chunked dW` });
      }
      const dx = await runOn('wasm', 'Conv2DBackpropInput', { dy, filter }, inputAttrs);
      expect(dx.shape).toEqual(c.x);
      assertAllClose(dx.values, expectedDx.values, { atol: 1e-4, rtol: 1e-4, name: 'wasm dx' });
      im2colLimits.maxColumnElements = 1;
      const chunkedDx = await runOn('wasm', 'Conv2DBackpropInput', { dy, filter }, inputAttrs);
      assertAllClose(chunkedDx.values, expectedDx.values, { atol: 1e-4, rtol: 1e-4, name: 'wasm chunked dx' });
      im2colLimits.maxColumnElements = 1 << 24;
      // Both routes of the input gradient, whichever 'auto' took (the conv route applies to stride 1 only).
      for (const route of ['conv', 'product'] as const) {
        inputGradientRoute.route = route;
        const routed = await runOn('wasm', 'Conv2DBackpropInput', { dy, filter }, inputAttrs);
        assertAllClose(routed.values, expectedDx.values, { atol: 1e-4, rtol: 1e-4, name: `wasm dx by ${route}` });
      }
    });
  }

  it('handle NCHW like the stock cpu kernels', async () => {
    const xShape: Shape4 = [2, 3, 7, 6];
    const filterShape: Shape4 = [3, 2, 3, 4];
    const dyShape = [2, 4, 4, 3]; // stride 2, same: ceil(7/2) x ceil(6/2)
    const x = { values: randn(xShape), shape: xShape };
    const filter = { values: randn(filterShape), shape: filterShape };
    const dy = { values: randn(dyShape), shape: dyShape };
    const attrs = { strides: 2, pad: 'same', dataFormat: 'NCHW' };
    const expectedDw = await runStockCpu(stock.cpuConv2DBackpropFilter, { x, dy }, { ...attrs, filterShape });
    const expectedDx = await runStockCpu(
      stock.cpuConv2DBackpropInput,
      { dy, filter },
      { ...attrs, inputShape: xShape },
    );
    for (const backend of ['wasm', 'cpu']) {
      const dw = await runOn(backend, 'Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape });
      assertAllClose(dw.values, expectedDw.values, { atol: 1e-4, rtol: 1e-4, name: `${backend} NCHW dW` });
    }
    const dx = await runOn('wasm', 'Conv2DBackpropInput', { dy, filter }, { ...attrs, inputShape: xShape });
    assertAllClose(dx.values, expectedDx.values, { atol: 1e-4, rtol: 1e-4, name: 'wasm NCHW dx' });
  });

  it('support dilations (which the stock kernels ignore) against the definition', async () => {
    const xShape: Shape4 = [2, 9, 8, 3];
    const filterShape: Shape4 = [3, 2, 3, 4];
    for (const [pad, strides] of [
      ['same', 1],
      ['valid', 2],
    ] as const) {
      const dilations: [number, number] = [2, 3];
      const g = geometry(xShape, filterShape, strides, dilations, pad, false);
      const dyShape = [g.N, g.Ho, g.Wo, g.Co];
      const x = randn(xShape);
      const filter = randn(filterShape);
      const dy = randn(dyShape);
      const expected = referenceGradients(x, filter, dy, g, false);
      const attrs = { strides, pad, dataFormat: 'NHWC', dilations };
      for (const backend of ['wasm', 'cpu']) {
        const dw = await runOn(
          backend,
          'Conv2DBackpropFilter',
          { x: { values: x, shape: xShape }, dy: { values: dy, shape: dyShape } },
          { ...attrs, filterShape },
        );
        assertAllClose(dw.values, expected.dw, { atol: 1e-4, rtol: 1e-4, name: `${backend} dilated dW (${pad})` });
      }
      const dx = await runOn(
        'wasm',
        'Conv2DBackpropInput',
        { dy: { values: dy, shape: dyShape }, filter: { values: filter, shape: filterShape } },
        { ...attrs, inputShape: xShape },
      );
      assertAllClose(dx.values, expected.dx, { atol: 1e-4, rtol: 1e-4, name: `wasm dilated dx (${pad})` });
    }
  });

  it('are not fooled by a dy buffer once used as a matmul operand under another shape', async () => {
    // The wasm backend caches XNNPACK matmul operators by the second operand's buffer id, whatever its shape.
    await tf.setBackend('wasm');
    const xShape: Shape4 = [1, 4, 4, 3];
    const x = { values: randn(xShape), shape: xShape };
    const dyValues = randn([1, 4, 4, 6]);
    const attrs = { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 3, 6] };
    const expected = await runOn(
      'wasm',
      'Conv2DBackpropFilter',
      { x, dy: { values: dyValues, shape: [1, 4, 4, 6] } },
      attrs,
    );
    const dy = tf.tensor4d(dyValues, [1, 4, 4, 6]);
    const xt = tf.tensor4d(x.values, xShape);
    tf.tidy(() => tf.matMul(tf.ones([2, 48]), tf.reshape(dy, [48, 2])).dataSync());
    const dw = tf
      .engine()
      .runKernel('Conv2DBackpropFilter', { x: xt, dy }, attrs as unknown as NamedAttrMap) as tf.Tensor;
    assertAllClose(dw.dataSync(), expected.values, { atol: 1e-5, rtol: 1e-5 });
    tf.dispose([dy, xt, dw]);
  });

  it('name the kernel, the argument and the shapes on bad input', async () => {
    await tf.setBackend('wasm');
    const x = tf.zeros([2, 6, 6, 3]);
    const dy = tf.zeros([2, 6, 6, 4]);
    expect(() =>
      tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
        strides: 2,
        pad: 'same',
        filterShape: [3, 3, 3, 4],
      } as unknown as NamedAttrMap),
    ).toThrow(/Conv2DBackpropFilter: argument 'dy' expected shape \[2, 3, 3, 4\].*got \[2, 6, 6, 4\]/);
    expect(() =>
      tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: tf.zeros([3, 3, 5, 4]) }, {
        strides: 1,
        pad: 'same',
        inputShape: [2, 6, 6, 3],
      } as unknown as NamedAttrMap),
    ).toThrow(/Conv2DBackpropInput: argument 'filter' expected in-channels .* = 3.*got \[3, 3, 5, 4\]/);
    tf.dispose([x, dy]);
  });
});

interface DepthwiseCase {
  name: string;
  x: Shape4;
  filter: Shape4;
  strides: number | [number, number];
  pad: Pad;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

const DEPTHWISE_CASES: DepthwiseCase[] = [
  {
    name: 'stride 2, same, batch 2, channel multiplier 2, non-square filter',
    x: [2, 7, 6, 3],
    filter: [3, 2, 3, 2],
    strides: 2,
    pad: 'same',
  },
  {
    name: 'strides [1, 2], valid, odd channels, multiplier 1',
    x: [1, 6, 9, 5],
    filter: [2, 3, 5, 1],
    strides: [1, 2],
    pad: 'valid',
  },
  {
    name: 'explicit padding, multiplier 3',
    x: [2, 5, 5, 4],
    filter: [3, 3, 4, 3],
    strides: 1,
    pad: [
      [0, 0],
      [2, 0],
      [1, 1],
      [0, 0],
    ],
  },
  {
    name: 'stride 1, same, multiplier 1 (dx by an XNNPACK depthwise conv)',
    x: [2, 6, 7, 5],
    filter: [3, 2, 5, 1],
    strides: 1,
    pad: 'same',
  },
  {
    name: 'numeric pad with ceil rounding, stride 2',
    x: [1, 8, 9, 3],
    filter: [3, 3, 3, 2],
    strides: 2,
    pad: 1,
    dimRoundingMode: 'ceil',
  },
  {
    name: 'stride 1, multiplier 1, padding wider than the filter (the loop path)',
    x: [1, 5, 6, 3],
    filter: [2, 2, 3, 1],
    strides: 1,
    pad: [
      [0, 0],
      [3, 0],
      [0, 2],
      [0, 0],
    ],
  },
];

describe('DepthwiseConv2dNativeBackpropFilter and DepthwiseConv2dNativeBackpropInput on wasm', () => {
  for (const c of DEPTHWISE_CASES) {
    it(`match the stock cpu kernels: ${c.name}`, async () => {
      const g = geometry(c.x, c.filter, c.strides, 1, c.pad, true, c.dimRoundingMode);
      const dyShape = [g.N, g.Ho, g.Wo, g.Co];
      const x = { values: randn(c.x), shape: c.x };
      const filter = { values: randn(c.filter), shape: c.filter };
      const dy = { values: randn(dyShape), shape: dyShape };
      const attrs = { strides: c.strides, pad: c.pad, dilations: 1, dimRoundingMode: c.dimRoundingMode };
      const expectedDw = await runStockCpu(stock.cpuDepthwiseFilter, { x, dy }, { ...attrs, filterShape: c.filter });
      const expectedDx = await runStockCpu(stock.cpuDepthwiseInput, { dy, filter }, { ...attrs, inputShape: c.x });
      const dw = await runOn(
        'wasm',
        'DepthwiseConv2dNativeBackpropFilter',
        { x, dy },
        { ...attrs, filterShape: c.filter },
      );
      const dx = await runOn(
        'wasm',
        'DepthwiseConv2dNativeBackpropInput',
        { dy, filter },
        { ...attrs, inputShape: c.x },
      );
      expect(dw.shape).toEqual(c.filter);
      expect(dx.shape).toEqual(c.x);
      assertAllClose(dw.values, expectedDw.values, { atol: 1e-4, rtol: 1e-4, name: 'depthwise dW' });
      assertAllClose(dx.values, expectedDx.values, { atol: 1e-4, rtol: 1e-4, name: 'depthwise dx' });
    });
  }

  it('support dilations against the definition', async () => {
    for (const multiplier of [2, 1]) {
      const xShape: Shape4 = [2, 8, 9, 3];
      const filterShape: Shape4 = [3, 2, 3, multiplier];
      const dilations: [number, number] = [2, 3];
      const g = geometry(xShape, filterShape, 1, dilations, 'same', true);
      const dyShape = [g.N, g.Ho, g.Wo, g.Co];
      const x = randn(xShape);
      const filter = randn(filterShape);
      const dy = randn(dyShape);
      const expected = referenceGradients(x, filter, dy, g, true);
      const attrs = { strides: 1, pad: 'same', dilations };
      const dw = await runOn(
        'wasm',
        'DepthwiseConv2dNativeBackpropFilter',
        { x: { values: x, shape: xShape }, dy: { values: dy, shape: dyShape } },
        { ...attrs, filterShape },
      );
      const dx = await runOn(
        'wasm',
        'DepthwiseConv2dNativeBackpropInput',
        { dy: { values: dy, shape: dyShape }, filter: { values: filter, shape: filterShape } },
        { ...attrs, inputShape: xShape },
      );
      assertAllClose(dw.values, expected.dw, {
        atol: 1e-4,
        rtol: 1e-4,
        name: `dilated depthwise dW (multiplier ${multiplier})`,
      });
      assertAllClose(dx.values, expected.dx, {
        atol: 1e-4,
        rtol: 1e-4,
        name: `dilated depthwise dx (multiplier ${multiplier})`,
      });
    }
  });
});

interface ConvFixture {
  name: string;
  depthwise: boolean;
  xShape: Shape4;
  filterShape: Shape4;
  dyShape: Shape4;
  strides: [number, number];
  dilations: [number, number];
  pad: Pad;
  x: number[];
  filter: number[];
  dy: number[];
  dx: number[];
  dw: number[];
}

describe('gradients against PyTorch (float64 fixtures, scripts/conv_grad_fixtures.py)', () => {
  for (const c of convFixtures.cases as ConvFixture[]) {
    it(c.name, async () => {
      const x = { values: Float32Array.from(c.x), shape: c.xShape };
      const filter = { values: Float32Array.from(c.filter), shape: c.filterShape };
      const dy = { values: Float32Array.from(c.dy), shape: c.dyShape };
      const attrs = { strides: c.strides, pad: c.pad, dilations: c.dilations, dataFormat: 'NHWC' };
      const [filterKernel, inputKernel] = c.depthwise
        ? ['DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput']
        : ['Conv2DBackpropFilter', 'Conv2DBackpropInput'];
      const dw = await runOn('wasm', filterKernel, { x, dy }, { ...attrs, filterShape: c.filterShape });
      const dx = await runOn('wasm', inputKernel, { dy, filter }, { ...attrs, inputShape: c.xShape });
      assertAllClose(dw.values, c.dw, { atol: 1e-4, rtol: 1e-4, name: 'dW vs torch' });
      assertAllClose(dx.values, c.dx, { atol: 1e-4, rtol: 1e-4, name: 'dx vs torch' });
      if (!c.depthwise) {
        const cpuDw = await runOn('cpu', filterKernel, { x, dy }, { ...attrs, filterShape: c.filterShape });
        assertAllClose(cpuDw.values, c.dw, { atol: 1e-4, rtol: 1e-4, name: 'cpu dW vs torch' });
      }
    });
  }
});

describe('UnsortedSegmentSum on wasm', () => {
  it('matches the stock cpu kernel, dropping negative and out-of-range ids', async () => {
    const x = { values: randn([6, 3, 2]), shape: [6, 3, 2] };
    const segmentIds = { values: Int32Array.from([0, 2, -1, 2, 7, 4]), shape: [6] };
    const expected = await runStockCpu(stock.cpuUnsortedSegmentSum, { x, segmentIds }, { numSegments: 4 });
    const out = await runOn('wasm', 'UnsortedSegmentSum', { x, segmentIds }, { numSegments: 4 });
    expect(out.shape).toEqual([4, 3, 2]);
    assertAllClose(out.values, expected.values, { atol: 1e-6, rtol: 1e-6 });
    // Segments 1 and 3 receive nothing: exact zeros.
    expect(Array.from(out.values.slice(6, 12))).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('sums 1-D and int32 input, keeping the dtype', async () => {
    const x = { values: Int32Array.from([5, -2, 7, 1, 9]), shape: [5] };
    const segmentIds = { values: Int32Array.from([1, 1, -3, 0, 1]), shape: [5] };
    const expected = await runStockCpu(stock.cpuUnsortedSegmentSum, { x, segmentIds }, { numSegments: 3 });
    const out = await runOn('wasm', 'UnsortedSegmentSum', { x, segmentIds }, { numSegments: 3 });
    expect(out.dtype).toBe('int32');
    expect(Array.from(out.values)).toEqual(Array.from(expected.values));
    expect(Array.from(out.values)).toEqual([1, 12, 0]);
  });

  it('rejects segment ids whose shape does not begin x', async () => {
    await tf.setBackend('wasm');
    const x = tf.zeros([4, 3]);
    const ids = tf.tensor1d([0, 1, 0], 'int32');
    expect(() => tf.unsortedSegmentSum(x, ids, 2)).toThrow(
      /UnsortedSegmentSum: argument 'segmentIds' expected a shape that begins x's shape \[4, 3\], got \[3\]/,
    );
    tf.dispose([x, ids]);
  });
});

/** Gradients of `f` at `inputs` on `backend`, as plain arrays, checking that nothing leaks. */
async function gradsOn(
  backend: string,
  f: (...xs: tf.Tensor[]) => tf.Tensor,
  inputs: { values: Float32Array; shape: number[] }[],
) {
  await tf.setBackend(backend);
  const xs = inputs.map((v) => tf.tensor(v.values, v.shape));
  const grads = await assertNoTensorLeak(() => tf.grads((...a: tf.Tensor[]) => f(...a))(xs));
  const values = grads.map((g) => g.dataSync().slice());
  tf.dispose([...grads, ...xs]);
  return values;
}

describe('gradients on wasm equal those on cpu', () => {
  it('tf.conv2d: stride 2, same, batch 2', async () => {
    const r = randn([2, 4, 3, 5]);
    const f = (x: tf.Tensor, w: tf.Tensor) =>
      tf.sum(tf.mul(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, 'same'), tf.tensor(r, [2, 4, 3, 5])));
    const inputs = [
      { values: randn([2, 7, 6, 3]), shape: [2, 7, 6, 3] },
      { values: randn([3, 2, 3, 5]), shape: [3, 2, 3, 5] },
    ];
    const [cx, cw] = await gradsOn('cpu', f, inputs);
    const [wx, ww] = await gradsOn('wasm', f, inputs);
    assertAllClose(wx, cx, { atol: 1e-4, rtol: 1e-4, name: 'dx' });
    assertAllClose(ww, cw, { atol: 1e-4, rtol: 1e-4, name: 'dW' });
  });

  it('tf.conv2d: the filter gradient agrees with finite differences', async () => {
    await tf.setBackend('wasm');
    const xValues = randn([1, 5, 4, 2]);
    const wValues = randn([3, 3, 2, 3]);
    const r = randn([1, 3, 2, 3]);
    const loss = (w: Float32Array) =>
      tf.tidy(
        () =>
          tf
            .sum(
              tf.mul(
                tf.conv2d(tf.tensor4d(xValues, [1, 5, 4, 2]), tf.tensor4d(w, [3, 3, 2, 3]), [2, 2], 'same'),
                tf.tensor(r, [1, 3, 2, 3]),
              ),
            )
            .dataSync()[0],
      );
    const [, dw] = await gradsOn(
      'wasm',
      (x, w) =>
        tf.sum(tf.mul(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, [2, 2], 'same'), tf.tensor(r, [1, 3, 2, 3]))),
      [
        { values: xValues, shape: [1, 5, 4, 2] },
        { values: wValues, shape: [3, 3, 2, 3] },
      ],
    );
    assertAllClose(dw, numericalGradient(loss, wValues, 1e-2), {
      atol: 2e-3,
      rtol: 2e-3,
      name: 'dW vs finite differences',
    });
  });

  it('tf.depthwiseConv2d: channel multiplier 2, valid, batch 2', async () => {
    const r = randn([2, 4, 3, 8]);
    const f = (x: tf.Tensor, w: tf.Tensor) =>
      tf.sum(tf.mul(tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'valid'), tf.tensor(r, [2, 4, 3, 8])));
    const inputs = [
      { values: randn([2, 6, 5, 4]), shape: [2, 6, 5, 4] },
      { values: randn([3, 3, 4, 2]), shape: [3, 3, 4, 2] },
    ];
    const [cx, cw] = await gradsOn('cpu', f, inputs);
    const [wx, ww] = await gradsOn('wasm', f, inputs);
    assertAllClose(wx, cx, { atol: 1e-4, rtol: 1e-4, name: 'dx' });
    assertAllClose(ww, cw, { atol: 1e-4, rtol: 1e-4, name: 'dW' });
  });

  it('tf.gather along axes 0 and 1 (through UnsortedSegmentSum)', async () => {
    const indices = tf.tensor1d([4, 0, 4, 2, 1, 4], 'int32');
    for (const axis of [0, 1]) {
      const r = randn(axis === 0 ? [6, 5] : [5, 6]);
      const f = (x: tf.Tensor) =>
        tf.sum(tf.mul(tf.gather(x, indices, axis), tf.tensor(r, axis === 0 ? [6, 5] : [5, 6])));
      const inputs = [{ values: randn([5, 5]), shape: [5, 5] }];
      const [c] = await gradsOn('cpu', f, inputs);
      const [w] = await gradsOn('wasm', f, inputs);
      assertAllClose(w, c, { atol: 1e-5, rtol: 1e-5, name: `gather axis ${axis}` });
    }
    indices.dispose();
  });
});

describe('training on wasm', () => {
  it('a small convnet (conv, depthwise conv, relu, dense) learns with Adam and leaks nothing', async () => {
    await tf.setBackend('wasm');
    const data = new Rng(3);
    // Label: is channel 0 brighter on average than channel 1? Learnable after global pooling.
    const images = data.normalTensor([16, 8, 8, 3]);
    const labels = tf.tidy(() => {
      const means = tf.mean(images, [1, 2]);
      const positive = tf.greater(tf.slice(means, [0, 0], [-1, 1]), tf.slice(means, [0, 1], [-1, 1]));
      return tf.oneHot(tf.cast(tf.reshape(positive, [-1]), 'int32'), 2);
    });
    const params = {
      conv: tf.variable(data.normalTensor([3, 3, 3, 8], 0, 0.3)),
      convBias: tf.variable(tf.zeros([8])),
      depthwise: tf.variable(data.normalTensor([3, 3, 8, 2], 0, 0.3)),
      dense: tf.variable(data.normalTensor([16, 2], 0, 0.3)),
      denseBias: tf.variable(tf.zeros([2])),
    };
    const forward = () => {
      const h1 = tf.relu(
        tf.add(tf.conv2d(images as tf.Tensor4D, params.conv as tf.Tensor4D, 1, 'same'), params.convBias),
      );
      const h2 = tf.relu(tf.depthwiseConv2d(h1 as tf.Tensor4D, params.depthwise as tf.Tensor4D, 2, 'same'));
      const logits = tf.add(tf.matMul(tf.mean(h2, [1, 2]), params.dense), params.denseBias);
      return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
    };
    const optimizer = tf.train.adam(0.03);
    const step = () => {
      const loss = optimizer.minimize(forward, true) as tf.Scalar;
      const value = loss.dataSync()[0];
      loss.dispose();
      return value;
    };
    const losses = [step()]; // the first step creates Adam's slots
    const tensorsAfterFirst = tf.memory().numTensors;
    const buffersAfterFirst = tf.backend().numDataIds();
    for (let i = 1; i < 30; i++) losses.push(await assertNoTensorLeak(step));
    expect(tf.memory().numTensors).toBe(tensorsAfterFirst);
    expect(tf.backend().numDataIds()).toBe(buffersAfterFirst);
    const tail = losses.slice(-3).reduce((a, b) => a + b, 0) / 3;
    expect(tail).toBeLessThan(0.6 * losses[0]);
    optimizer.dispose();
    tf.dispose([images, labels, ...Object.values(params)]);
  });
});

describe('registerTrainingKernels', () => {
  it('is idempotent and replaces stock kernels without warnings', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      registerTrainingKernels();
      registerTrainingKernels();
      await initBackend('wasm');
      expect(warn).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
    }
    for (const config of TRAINING_KERNELS) {
      expect(tf.getKernel(config.kernelName, config.backendName)?.kernelFunc).toBe(config.kernelFunc);
    }
    // What we captured really were the stock kernels, so the comparisons above are against tfjs's own code.
    expect(stock.wasmConv2DBackpropInput.kernelFunc).not.toBe(tf.getKernel('Conv2DBackpropInput', 'wasm')?.kernelFunc);
    expect(stock.cpuConv2DBackpropFilter.kernelFunc).not.toBe(tf.getKernel('Conv2DBackpropFilter', 'cpu')?.kernelFunc);
  });
});
