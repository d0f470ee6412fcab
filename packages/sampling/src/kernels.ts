import * as tf from '@tensorflow/tfjs-core';
import { registerFusedKernel, runFused } from '@deformjs/core';
import type { KernelArray } from '@deformjs/core';
import { bilinearGatherBackwardImpl, bilinearGatherForwardImpl } from './bilinear_gather_impl';
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

let registered = false;

/** Registers the forward and backward kernels on cpu and wasm and the gradient; idempotent. */
export function registerBilinearGatherKernels(): void {
  if (registered) return;
  registerFusedKernel<GatherAttrs>({
    kernelName: BILINEAR_GATHER,
    owner: `${name}@${version}`,
    outputs: (shapes, attrs) => [{ shape: outputShape(dimsOf(shapes), attrs.reduce) }],
    compute: ([value, spatialShapes, starts, locations, weights], [out], shapes, attrs) =>
      bilinearGatherForwardImpl(
        value as Float32Array,
        spatialShapes as Int32Array,
        starts as Int32Array,
        locations as Float32Array,
        weights as Float32Array,
        out as Float32Array,
        dimsOf(shapes),
        attrs,
      ),
  });
  registerFusedKernel<GatherAttrs>({
    kernelName: BILINEAR_GATHER_GRAD,
    owner: `${name}@${version}`,
    outputs: (shapes) => [{ shape: shapes[0] }, { shape: shapes[3] }, { shape: shapes[4] }],
    compute: (inputs: KernelArray[], [gradValue, gradLocations, gradWeights], shapes, attrs) => {
      const [value, spatialShapes, starts, locations, weights, gradOut] = inputs;
      bilinearGatherBackwardImpl(
        value as Float32Array,
        spatialShapes as Int32Array,
        starts as Int32Array,
        locations as Float32Array,
        weights as Float32Array,
        gradOut as Float32Array,
        gradValue as Float32Array,
        gradLocations as Float32Array,
        gradWeights as Float32Array,
        dimsOf(shapes),
        attrs,
      );
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
