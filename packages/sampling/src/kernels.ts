import * as tf from '@tensorflow/tfjs-core';
import {
  registerFusedKernel,
  registerWebGLKernel,
  registerWebGPUKernel,
  runFused,
  runSplit,
  zerosWebGPUProgram,
} from '@deformjs/core';
import type { KernelArray, SplitKernel } from '@deformjs/core';
import { Corners, bilinearGatherBackwardImpl, bilinearGatherForwardImpl } from './bilinear_gather_impl';
import { forwardProgram, locationsGradProgram, valueGradProgram, weightsGradProgram } from './bilinear_gather_webgl';
import * as webgpu from './bilinear_gather_webgpu';
import type { GatherDims, GatherFlags } from './bilinear_gather_impl';
import { name, version } from '../package.json';

export const BILINEAR_GATHER = 'DeformjsBilinearGather';
export const BILINEAR_GATHER_GRAD = 'DeformjsBilinearGatherGrad';

/** Kernel attributes. Without weights the op passes a [1] placeholder and `weighted: false`. */
export type GatherAttrs = GatherFlags;

/** value [B, S, G, C] and locations [B, Q, G, L, P, 2] fix every size. */
function dimsOf(shapes: number[][]): GatherDims {
  const [B, S, G, C] = shapes[0];
  const [, Q, , L, P] = shapes[3];
  return { B, S, G, C, Q, L, P };
}

function outputShape(d: GatherDims, reduce: GatherFlags['reduce']): number[] {
  return reduce === 'sum' ? [d.B, d.Q, d.G, d.C] : [d.B, d.Q, d.L * d.P, d.G, d.C];
}

/**
 * Both passes split over (image, group) units across the wasm threads (see core's runSplit): units write disjoint
 * outputs and value-gradient rows, so the result is the single-thread one bit for bit.
 */
const FORWARD: SplitKernel = { name: 'bilinearGatherForward', run: bilinearGatherForwardImpl, uses: [Corners] };
const BACKWARD: SplitKernel = { name: 'bilinearGatherBackward', run: bilinearGatherBackwardImpl, uses: [Corners] };
/** About a millisecond of one thread: below it a worker's wake-up costs more than it saves. */
const MIN_SPLIT_WORK = 2 ** 20;
const units = (d: GatherDims) => d.B * d.G;
const worthSplitting = (d: GatherDims) => d.B * d.Q * d.G * d.L * d.P * d.C >= MIN_SPLIT_WORK;

let registered = false;

/** The backends with this package's kernels: cpu and wasm (array code), webgl and webgpu (shader programs). */
export const GATHER_KERNEL_BACKENDS = ['cpu', 'wasm', 'webgl', 'webgpu'];

/** Registers the forward and backward kernels on cpu, wasm, webgl and webgpu and the gradient; idempotent. */
export function registerBilinearGatherKernels(): void {
  if (registered) return;
  registerFusedKernel<GatherAttrs>({
    kernelName: BILINEAR_GATHER,
    owner: `${name}@${version}`,
    outputs: (shapes, attrs) => [{ shape: outputShape(dimsOf(shapes), attrs.reduce) }],
    compute: (inputs, [out], shapes, attrs) => {
      const dims = dimsOf(shapes);
      const flags = { normalized: attrs.normalized, reduce: attrs.reduce, weighted: attrs.weighted };
      runSplit(FORWARD, [...inputs.slice(0, 5), out, dims, flags], units(dims), worthSplitting(dims));
    },
  });
  registerFusedKernel<GatherAttrs>({
    kernelName: BILINEAR_GATHER_GRAD,
    owner: `${name}@${version}`,
    outputs: (shapes) => [{ shape: shapes[0] }, { shape: shapes[3] }, { shape: shapes[4] }],
    compute: (inputs: KernelArray[], outputs, shapes, attrs) => {
      const dims = dimsOf(shapes);
      const flags = { normalized: attrs.normalized, reduce: attrs.reduce, weighted: attrs.weighted };
      runSplit(BACKWARD, [...inputs.slice(0, 6), ...outputs, dims, flags], units(dims), worthSplitting(dims));
    },
  });
  registerWebGLKernel<GatherAttrs>({
    kernelName: BILINEAR_GATHER,
    run: (inputs, attrs, runProgram) => {
      const dims = dimsOf(inputs.map((t) => t.shape));
      return [runProgram(forwardProgram(dims, attrs), attrs.weighted ? inputs : inputs.slice(0, 4))];
    },
  });
  registerWebGLKernel<GatherAttrs>({
    kernelName: BILINEAR_GATHER_GRAD,
    run: (inputs, attrs, runProgram) => {
      const dims = dimsOf(inputs.map((t) => t.shape));
      // [value, spatialShapes, starts, locations, weights?, dy], as the programs' variableNames list them.
      const used = attrs.weighted ? inputs : [...inputs.slice(0, 4), inputs[5]];
      const gradWeights = attrs.weighted
        ? runProgram(weightsGradProgram(dims, attrs), used)
        : runProgram(
            { variableNames: [], outputShape: inputs[4].shape, userCode: 'void main() { setOutput(0.0); }' },
            [],
          );
      return [
        runProgram(valueGradProgram(dims, attrs), used),
        runProgram(locationsGradProgram(dims, attrs), used),
        gradWeights,
      ];
    },
  });
  registerWebGPUKernel<GatherAttrs>({
    kernelName: BILINEAR_GATHER,
    run: (inputs, attrs, runProgram) => {
      const dims = dimsOf([inputs.value.shape, [], [], inputs.locations.shape]);
      return [runProgram(webgpu.forwardProgram(outputShape(dims, attrs.reduce), attrs), inputs)];
    },
  });
  registerWebGPUKernel<GatherAttrs>({
    kernelName: BILINEAR_GATHER_GRAD,
    run: (inputs, attrs, runProgram) => {
      const { value, locations, weights } = inputs;
      const samples = tf.util.sizeFromShape(locations.shape) / 2;
      return [
        runProgram(webgpu.valueGradProgram(value.shape, samples, attrs), inputs),
        runProgram(webgpu.locationsGradProgram(locations.shape, attrs), inputs),
        runProgram(
          attrs.weighted ? webgpu.weightsGradProgram(weights.shape, attrs) : zerosWebGPUProgram(weights.shape),
          inputs,
        ),
      ];
    },
  });
  tf.registerGradient({
    kernelName: BILINEAR_GATHER,
    inputsToSave: ['value', 'spatialShapes', 'levelStartIndex', 'locations', 'weights'],
    gradFunc: (dy, saved, attrs) => {
      const [value, spatialShapes, levelStartIndex, locations, weights] = saved;
      const flags = attrs as unknown as GatherAttrs;
      // One backward pass gives all three gradients; the thunks hand them out.
      const [gradValue, gradLocations, gradWeights] = runFused(
        BILINEAR_GATHER_GRAD,
        { value, spatialShapes, levelStartIndex, locations, weights, dy: dy as tf.Tensor },
        { normalized: flags.normalized, reduce: flags.reduce, weighted: flags.weighted },
      );
      return {
        value: () => gradValue,
        spatialShapes: () => tf.zeros(spatialShapes.shape),
        levelStartIndex: () => tf.zeros(levelStartIndex.shape),
        locations: () => gradLocations,
        weights: () => gradWeights,
      };
    },
  });
  registered = true;
}
