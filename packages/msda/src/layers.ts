import * as tf from '@tensorflow/tfjs-core';
import {
  argumentError,
  assertDivides,
  assertDtype,
  assertInteger,
  checkShapes,
  Linear,
  Module,
  type Rng,
  rngOption,
  xavierUniform,
} from '@deformjs/core';
import { resolveLevels } from '@deformjs/sampling';
import type { LevelStartIndexLike, SpatialShapesLike } from '@deformjs/sampling';
import { msDeformAttnResolved } from './ms_deform_attn';

export interface MSDeformAttnOptions {
  dModel?: number;
  nLevels?: number;
  nHeads?: number;
  nPoints?: number;
  /** Draws value_proj and output_proj's xavier init: an Rng or an integer seed (default 0). */
  rng?: Rng | number;
}

const OP = 'MSDeformAttn';

/**
 * Deformable DETR's multi-scale deformable attention module. Parameters carry PyTorch's state_dict names
 * (`sampling_offsets.weight`, ...), so `loadStateDict(dict, { torchLayout: true })` takes an official checkpoint.
 */
export class MSDeformAttn extends Module {
  readonly dModel: number;
  readonly nLevels: number;
  readonly nHeads: number;
  readonly nPoints: number;
  readonly samplingOffsets: Linear;
  readonly attentionWeights: Linear;
  readonly valueProj: Linear;
  readonly outputProj: Linear;

  constructor(options: MSDeformAttnOptions = {}) {
    super();
    const { dModel = 256, nLevels = 4, nHeads = 8, nPoints = 4 } = options;
    for (const [name, v] of Object.entries({ dModel, nLevels, nHeads, nPoints })) assertInteger(OP, name, v, 1);
    assertDivides(OP, 'nHeads', nHeads, dModel, 'dModel');
    const rng = rngOption(OP, options.rng);
    this.dModel = dModel;
    this.nLevels = nLevels;
    this.nHeads = nHeads;
    this.nPoints = nPoints;
    const offsets = nHeads * nLevels * nPoints;
    // Zero weights: at init every query samples a fixed ring of points around its reference point.
    this.samplingOffsets = this.addModule(
      'sampling_offsets',
      new Linear(rng, dModel, offsets * 2, {
        init: { weight: tf.zeros([dModel, offsets * 2]), bias: directionalBias(nHeads, nLevels, nPoints) },
      }),
    );
    this.attentionWeights = this.addModule(
      'attention_weights',
      new Linear(rng, dModel, offsets, { init: { weight: tf.zeros([dModel, offsets]) } }),
    );
    this.valueProj = this.addModule(
      'value_proj',
      new Linear(rng, dModel, dModel, { init: { weight: xavierUniform(rng, [dModel, dModel], dModel, dModel) } }),
    );
    this.outputProj = this.addModule(
      'output_proj',
      new Linear(rng, dModel, dModel, { init: { weight: xavierUniform(rng, [dModel, dModel], dModel, dModel) } }),
    );
  }

  /**
   * query [N, Lq, dModel]; referencePoints [N, Lq, nLevels, 2] as (x, y) in [0, 1] or [N, Lq, nLevels, 4] as
   * boxes (cx, cy, w, h); inputFlatten [N, S, dModel], the levels concatenated row-major;
   * inputSpatialShapes [nLevels, 2] rows (H, W); inputLevelStartIndex [nLevels]; inputPaddingMask [N, S]
   * bool, true at padding (zeroed in value), or null. Returns [N, Lq, dModel].
   */
  forward(
    query: tf.Tensor,
    referencePoints: tf.Tensor,
    inputFlatten: tf.Tensor,
    inputSpatialShapes: SpatialShapesLike,
    inputLevelStartIndex: LevelStartIndexLike,
    inputPaddingMask: tf.Tensor | null = null,
  ): tf.Tensor {
    const { dModel: d, nLevels: L, nHeads: M, nPoints: P } = this;
    const { N, Lq, S } = checkShapes(OP, [
      { name: 'query', shape: query.shape, expected: ['N', 'Lq', d] },
      { name: 'referencePoints', shape: referencePoints.shape, expected: ['N', 'Lq', L, null] },
      { name: 'inputFlatten', shape: inputFlatten.shape, expected: ['N', 'S', d] },
      ...(inputPaddingMask ? [{ name: 'inputPaddingMask', shape: inputPaddingMask.shape, expected: ['N', 'S'] }] : []),
    ]);
    const refDim = referencePoints.shape[3];
    if (refDim !== 2 && refDim !== 4)
      throw argumentError(OP, 'referencePoints', 'last dimension 2 (points) or 4 (boxes)', referencePoints.shape);
    if (inputPaddingMask) assertDtype(OP, 'inputPaddingMask', inputPaddingMask.dtype, ['bool']);
    const levels = resolveLevels(OP, inputSpatialShapes, inputLevelStartIndex, {
      spatialShapes: 'inputSpatialShapes',
      levelStartIndex: 'inputLevelStartIndex',
    });
    if (levels.total !== S)
      throw argumentError(
        OP,
        'inputSpatialShapes',
        `levels whose H*W sum to S = ${S} (dimension 1 of inputFlatten)`,
        `levels summing to ${levels.total}`,
      );
    if (levels.starts.length !== L)
      throw argumentError(OP, 'inputSpatialShapes', `${L} levels (nLevels)`, `${levels.starts.length} levels`);

    return tf.tidy(() => {
      let value = this.valueProj.forward(inputFlatten);
      if (inputPaddingMask)
        value = tf.mul(value, tf.expandDims(tf.cast(tf.logicalNot(inputPaddingMask), 'float32'), -1));
      value = tf.reshape(value, [N, S, M, d / M]);
      const offsets = tf.reshape(this.samplingOffsets.forward(query), [N, Lq, M, L, P, 2]);
      const logits = tf.reshape(this.attentionWeights.forward(query), [N, Lq, M, L * P]);
      const attention = tf.reshape(tf.softmax(logits), [N, Lq, M, L, P]);
      let locations: tf.Tensor;
      if (refDim === 2) {
        // Offsets are in pixels of each level: divide by (W, H).
        const wh = Array.from({ length: L }, (_, l) => [levels.shapes[2 * l + 1], levels.shapes[2 * l]]).flat();
        const normalizer = tf.tensor(wh, [1, 1, 1, L, 1, 2]);
        locations = tf.add(tf.reshape(referencePoints, [N, Lq, 1, L, 1, 2]), tf.div(offsets, normalizer));
      } else {
        // Offsets are in units of half the box size, over P points.
        const [xy, boxWh] = tf.split(tf.reshape(referencePoints, [N, Lq, 1, L, 1, 4]), 2, 5);
        locations = tf.add(xy, tf.mul(tf.div(offsets, P), tf.mul(boxWh, 0.5)));
      }
      const sampled = msDeformAttnResolved(value, levels, locations, attention);
      return this.outputProj.forward(sampled);
    });
  }
}

/**
 * The official sampling_offsets bias: head m points along theta_m = 2*pi*m/M, the vector (cos, sin) scaled so
 * its larger component is 1, and point i sits at (i + 1) times it, the same on every level.
 */
function directionalBias(M: number, L: number, P: number): tf.Tensor {
  const bias = new Float32Array(M * L * P * 2);
  for (let m = 0; m < M; m++) {
    const theta = Math.fround(m * Math.fround((2 * Math.PI) / M));
    const cos = Math.fround(Math.cos(theta));
    const sin = Math.fround(Math.sin(theta));
    const scale = Math.max(Math.abs(cos), Math.abs(sin));
    for (let l = 0; l < L; l++) {
      for (let i = 0; i < P; i++) {
        const o = ((m * L + l) * P + i) * 2;
        bias[o] = (cos / scale) * (i + 1);
        bias[o + 1] = (sin / scale) * (i + 1);
      }
    }
  }
  return tf.tensor1d(bias);
}
