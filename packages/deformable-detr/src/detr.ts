import * as tf from '@tensorflow/tfjs-core';
import { Module, Rng, xavierUniform } from '@deformjs/core';
import {
  Conv2d,
  LayerNorm,
  Linear,
  MLP,
  ModuleList,
  NoiseSource,
  TransformerDecoderLayer,
  TransformerEncoderLayer,
  positionEmbeddingSine,
} from '@deformjs/nn';
import { validateDetrConfig, type DetrConfig } from './config';
import { Backbone, Embedding, readInputs, type DetectionOutputs, type Predictions } from './heads';
import { resizeMaskNearest } from './masks';

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
}

/**
 * DETR (arXiv 2005.12872), the baseline Deformable DETR is compared with: C5 through a 1x1 projection, DETR's
 * sine embedding (no -0.5 offset), global-attention encoder and decoder, softmax classes with a final
 * "no object" class, and an MLP box head on every decoder layer. DETR's state_dict names.
 */
export class DETR extends Module {
  readonly config: DetrConfig;
  readonly noise: NoiseSource;
  readonly backbone: Backbone;
  readonly inputProj: Conv2d;
  readonly transformer: DetrTransformer;
  readonly queryEmbed: Embedding;
  readonly classEmbed: Linear;
  readonly bboxEmbed: MLP;

  constructor(config: DetrConfig) {
    super();
    this.config = validateDetrConfig(config);
    const d = config.hiddenDim;
    const rng = new Rng(config.seed);
    this.noise = new NoiseSource(rng.fork());
    this.backbone = this.addModule('backbone', new ModuleList()).add(
      '0',
      new Backbone(config.backbone, false, config.seed),
    );
    this.inputProj = this.addModule('input_proj', new Conv2d(rng, this.backbone.channels[0], d, 1));
    this.transformer = this.addModule('transformer', new DetrTransformer(this.noise, config, config.seed));
    this.queryEmbed = this.addModule('query_embed', new Embedding(rng, config.numQueries, d));
    this.classEmbed = this.addModule('class_embed', new Linear(rng, d, config.numClasses + 1));
    this.bboxEmbed = this.addModule('bbox_embed', new MLP(rng, d, d, 4, 3));
  }

  uniqueTrainableVariables(): tf.Variable[] {
    return [...new Set(this.trainableVariables())];
  }

  forward(images: tf.Tensor, mask: tf.Tensor): DetectionOutputs {
    const { n, height, width, maskData } = readInputs('DETR.forward', images, mask);
    const d = this.config.hiddenDim;
    const q = this.config.numQueries;
    const t = this.transformer;
    return tf.tidy(() => {
      const [c5] = this.backbone.forward(images);
      const [, h, w] = c5.shape;
      const levelMask = tf.tensor3d(resizeMaskNearest(maskData, n, height, width, h, w), [n, h, w], 'bool');
      const pos = tf.reshape(positionEmbeddingSine(levelMask, { numPosFeats: d / 2, normalize: true }), [n, h * w, d]);
      const keyPaddingMask = tf.reshape(levelMask, [n, h * w]);
      let memory = tf.reshape(this.inputProj.forward(c5), [n, h * w, d]);
      for (const layer of t.encoderLayers) memory = layer.forward(memory, { pos, keyPaddingMask });
      const queryPos = tf.broadcastTo(tf.expandDims(this.queryEmbed.weight, 0), [n, q, d]);
      let tgt = tf.zeros([n, q, d]);
      const predictions: Predictions[] = [];
      for (const layer of t.decoderLayers) {
        tgt = layer.forward(tgt, memory, { pos, queryPos, memoryKeyPaddingMask: keyPaddingMask });
        const hs = t.decoderNorm.forward(tgt);
        predictions.push({
          predLogits: this.classEmbed.forward(hs),
          predBoxes: tf.sigmoid(this.bboxEmbed.forward(hs)),
        });
      }
      const last = predictions[predictions.length - 1];
      return {
        predLogits: last.predLogits,
        predBoxes: last.predBoxes,
        aux: predictions.slice(0, -1),
      } as unknown as tf.TensorContainer;
    }) as unknown as DetectionOutputs;
  }
}
