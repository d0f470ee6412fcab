import * as tf from '@tensorflow/tfjs-core';
import { Module, Rng, argumentError, checkShapes } from '@deformjs/core';
import { ResNet, type FeatureName } from '@deformjs/nn';
import type { BackboneConfig } from './config';

/** nn.Embedding's table (`weight` [num, dim], N(0, 1) init); the DETRs read it whole as learned queries. */
export class Embedding extends Module {
  readonly weight: tf.Variable;
  constructor(rng: Rng, num: number, dim: number) {
    super();
    this.weight = this.addParameter('weight', rng.normalTensor([num, dim]));
  }
}

/** DETR's Backbone: the ResNet under `body` (frozen batch norm), returning C3..C5 or C5 only. */
export class Backbone extends Module {
  readonly body: ResNet;
  readonly features: FeatureName[];
  readonly channels: number[];

  constructor(config: BackboneConfig, returnIntermediate: boolean, seed: number) {
    super();
    this.features = returnIntermediate ? ['C3', 'C4', 'C5'] : ['C5'];
    this.body = this.addModule(
      'body',
      new ResNet({ depth: config.depth, width: config.width, norm: 'frozen', returnFeatures: this.features, seed }),
    );
    this.channels = this.features.map((f) => this.body.channels[f]);
  }

  forward(images: tf.Tensor): tf.Tensor[] {
    return tf.tidy(() => {
      const out = this.body.forward(images);
      return this.features.map((f) => out[f]!);
    });
  }
}

/** One decoder layer's predictions: class logits [N, Q, C] and boxes [N, Q, 4] as normalised (cx, cy, w, h). */
export interface Predictions {
  predLogits: tf.Tensor;
  predBoxes: tf.Tensor;
}

/**
 * The model's outputs as upstream's dict: the last decoder layer, `aux` for the earlier layers (first to
 * last) and, two-stage, `enc`, the encoder's proposals scored as one foreground class.
 */
export interface DetectionOutputs extends Predictions {
  aux: Predictions[];
  enc?: Predictions;
}

export function disposeOutputs(out: DetectionOutputs): void {
  tf.dispose([
    out.predLogits,
    out.predBoxes,
    ...out.aux.flatMap((a) => [a.predLogits, a.predBoxes]),
    ...(out.enc ? [out.enc.predLogits, out.enc.predBoxes] : []),
  ]);
}

/** Checks images [N, H, W, 3] and mask [N, H, W] (bool, true at padding) and reads the mask. */
export function readInputs(
  op: string,
  images: tf.Tensor,
  mask: tf.Tensor,
): { n: number; height: number; width: number; maskData: Uint8Array } {
  if (!(images instanceof tf.Tensor)) throw argumentError(op, 'images', 'a [N, H, W, 3] tensor (NHWC)', images);
  if (!(mask instanceof tf.Tensor)) throw argumentError(op, 'mask', 'a [N, H, W] bool tensor, true at padding', mask);
  const { N, H, W } = checkShapes(op, [
    { name: 'images', shape: images.shape, expected: ['N', 'H', 'W', 3] },
    { name: 'mask', shape: mask.shape, expected: ['N', 'H', 'W'] },
  ]);
  if (mask.dtype !== 'bool') throw argumentError(op, 'mask', 'dtype bool (true at padding)', mask.dtype);
  return { n: N, height: H, width: W, maskData: Uint8Array.from(mask.dataSync() as Uint8Array) };
}
