import * as tf from '@tensorflow/tfjs-core';
import { Module, Rng, xavierUniform } from '@deformjs/core';
import {
  LayerNorm,
  ModuleList,
  type NoiseSource,
  TransformerDecoderLayer,
  TransformerEncoderLayer,
} from '@deformjs/nn';
import type { DetrConfig } from './config';

/** DETR's Transformer: post-norm encoder and decoder with global attention, a final decoder LayerNorm. */
export class DetrTransformer extends Module {
  readonly encoderLayers: TransformerEncoderLayer[];
  readonly decoderLayers: TransformerDecoderLayer[];
  readonly decoderNorm: LayerNorm;

  constructor(noise: NoiseSource, config: DetrConfig, seed: number) {
    super();
    const { hiddenDim: dModel, nHeads: nHead, dimFeedforward, dropout } = config;
    const layerOptions = (i: number) => ({ dModel, nHead, dimFeedforward, dropout, noise, seed: seed + i });
    const encoder = this.addModule('encoder', new ModuleList());
    const encLayers = encoder.add('layers', new ModuleList());
    this.encoderLayers = Array.from({ length: config.encLayers }, (_, i) =>
      encLayers.add(String(i), new TransformerEncoderLayer(layerOptions(i))),
    );
    const decoder = this.addModule('decoder', new ModuleList());
    const decLayers = decoder.add('layers', new ModuleList());
    this.decoderLayers = Array.from({ length: config.decLayers }, (_, i) =>
      decLayers.add(String(i), new TransformerDecoderLayer(layerOptions(100 + i))),
    );
    this.decoderNorm = decoder.add('norm', new LayerNorm(dModel));
    // DETR's _reset_parameters: xavier_uniform for every matrix.
    const rng = new Rng(seed + 7);
    for (const [, p] of this.namedParameters()) {
      if (p.variable.rank !== 2) continue;
      const [fanIn, fanOut] = p.variable.shape;
      tf.tidy(() => p.variable.assign(xavierUniform(rng, [fanIn, fanOut], fanIn, fanOut)));
    }
  }

  /**
   * src and pos [N, S, d] (flattened C5 and its sine embedding), keyPaddingMask [N, S] (true at padding),
   * queryEmbed [Q, d]. Returns every decoder layer's output through the decoder norm
   * (return_intermediate_dec), first to last.
   */
  forward(src: tf.Tensor, keyPaddingMask: tf.Tensor, queryEmbed: tf.Tensor, pos: tf.Tensor): tf.Tensor[] {
    return tf.tidy(() => {
      const [n, , d] = src.shape;
      const q = queryEmbed.shape[0];
      let memory = src;
      for (const layer of this.encoderLayers) memory = layer.forward(memory, { pos, keyPaddingMask });
      const queryPos = tf.broadcastTo(tf.expandDims(queryEmbed, 0), [n, q, d]);
      let tgt = tf.zeros([n, q, d]);
      const hs: tf.Tensor[] = [];
      for (const layer of this.decoderLayers) {
        tgt = layer.forward(tgt, memory, { pos, queryPos, memoryKeyPaddingMask: keyPaddingMask });
        hs.push(this.decoderNorm.forward(tgt));
      }
      return hs;
    });
  }
}
