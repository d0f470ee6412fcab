// Every sampling-core op, forward and gradient, on small seeded inputs: run in Node and in Chromium (the same code,
// bundled into test/pages/ops.ts) so the test can compare backends. Each case returns plain arrays.
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@deformjs/core';
import { deformConv2d, deformRoIPool } from '@deformjs/dcn';
import { deformKernelDepthwise } from '@deformjs/deformable-kernels';
import { msDeformAttn } from '@deformjs/msda';
import { bilinearGather, gridSample } from '@deformjs/sampling';
import { warp } from '@deformjs/video-det';

export interface OpResult {
  /** The forward output, then the gradient of sum(output * dy) for each differentiable input, flattened. */
  outputs: Record<string, number[]>;
}

interface OpCase {
  /** The differentiable inputs, by name. */
  inputs(rng: Rng): Record<string, tf.Tensor>;
  apply(inputs: Record<string, tf.Tensor>): tf.Tensor;
}

const LEVELS: [number, number][] = [
  [4, 5],
  [2, 3],
];
const STARTS = [0, 20];

export const OP_CASES: Record<string, OpCase> = {
  'bilinearGather sum': {
    inputs: (rng) => ({
      value: rng.normalTensor([2, 26, 2, 3]),
      locations: rng.uniformTensor([2, 5, 2, 2, 3, 2], -0.2, 1.2),
      weights: rng.uniformTensor([2, 5, 2, 2, 3], 0, 1),
    }),
    apply: ({ value, locations, weights }) =>
      bilinearGather(value, LEVELS, STARTS, locations, weights, { normalized: true, reduce: 'sum' }),
  },
  'bilinearGather none': {
    inputs: (rng) => ({
      value: rng.normalTensor([1, 26, 2, 3]),
      locations: rng.uniformTensor([1, 4, 2, 2, 2, 2], -1.5, 5.5),
    }),
    apply: ({ value, locations }) =>
      bilinearGather(value, LEVELS, STARTS, locations, null, { normalized: false, reduce: 'none' }),
  },
  'gridSample reflection': {
    inputs: (rng) => ({ input: rng.normalTensor([2, 4, 5, 3]), grid: rng.uniformTensor([2, 3, 4, 2], -1.6, 1.6) }),
    apply: ({ input, grid }) => gridSample(input, grid, { paddingMode: 'reflection' }),
  },
  msDeformAttn: {
    inputs: (rng) => ({
      value: rng.normalTensor([2, 26, 2, 4]),
      samplingLocations: rng.uniformTensor([2, 6, 2, 2, 4, 2], -0.1, 1.1),
      attentionWeights: rng.uniformTensor([2, 6, 2, 2, 4], 0, 1),
    }),
    apply: ({ value, samplingLocations, attentionWeights }) =>
      msDeformAttn(value, LEVELS, STARTS, samplingLocations, attentionWeights),
  },
  deformConv2d: {
    inputs: (rng) => ({
      input: rng.normalTensor([1, 6, 5, 4]),
      offset: rng.normalTensor([1, 6, 5, 18], 0, 1.5),
      weight: rng.normalTensor([3, 3, 4, 3], 0, 0.3),
      mask: rng.uniformTensor([1, 6, 5, 9], 0, 1),
      bias: rng.normalTensor([3]),
    }),
    apply: ({ input, offset, weight, mask, bias }) => deformConv2d(input, offset, weight, { mask, bias, pad: 1 }),
  },
  deformRoIPool: {
    inputs: (rng) => ({ input: rng.normalTensor([2, 8, 9, 3]), offset: rng.normalTensor([3, 2, 2, 2], 0, 0.5) }),
    apply: ({ input, offset }) =>
      deformRoIPool(input, tf.tensor2d([0, 1, 1, 6, 5, 1, 0.5, 2, 8, 7.5, 0, 3, 0, 8, 3], [3, 5]), {
        outputSize: 2,
        spatialScale: 1,
        samplingRatio: 2,
        offset,
      }),
  },
  deformKernelDepthwise: {
    inputs: (rng) => ({
      input: rng.normalTensor([1, 6, 6, 4]),
      weight: rng.normalTensor([4, 4, 4, 1], 0, 0.3),
      deltas: rng.normalTensor([1, 6, 6, 18], 0, 0.7),
    }),
    apply: ({ input, weight, deltas }) => deformKernelDepthwise(input, weight, deltas, { kernelSize: 3, padding: 1 }),
  },
  warp: {
    inputs: (rng) => ({ features: rng.normalTensor([1, 5, 6, 3]), flow: rng.normalTensor([1, 5, 6, 2], 0, 2) }),
    apply: ({ features, flow }) => warp(features, flow),
  },
};

export const OP_NAMES = Object.keys(OP_CASES);

/**
 * Runs one case on the active backend: the output and the gradient of sum(output * dy) for each input. Reads the
 * results asynchronously: tfjs's synchronous read on webgpu goes through a canvas, and in headless Chromium with
 * SwiftShader it returns zeros and loses the device.
 */
export async function runOpCase(name: string, seed = 0): Promise<OpResult> {
  const opCase = OP_CASES[name];
  if (!opCase) throw new Error(`runOpCase: no op case ${JSON.stringify(name)}; cases: ${OP_NAMES.join(', ')}`);
  const rng = new Rng(seed);
  const names: string[] = [];
  const results = tf.tidy(() => {
    const inputs = opCase.inputs(rng);
    names.push(...Object.keys(inputs));
    const output = opCase.apply(inputs);
    const dy = rng.normalTensor(output.shape);
    const grads = tf.grads((...xs: tf.Tensor[]) =>
      tf.sum(tf.mul(opCase.apply(Object.fromEntries(names.map((n, i) => [n, xs[i]]))), dy)),
    )(names.map((n) => inputs[n]));
    return [output, ...grads];
  });
  try {
    const [output, ...grads] = await Promise.all(results.map((t) => t.data()));
    const outputs: Record<string, number[]> = { output: Array.from(output) };
    names.forEach((n, i) => (outputs[`gradient of ${n}`] = Array.from(grads[i])));
    return { outputs };
  } finally {
    tf.dispose(results);
  }
}
