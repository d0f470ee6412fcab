import * as tf from '@tensorflow/tfjs-core';
import { Module, Rng } from '@deformjs/core';
import { Conv2d, Embedding, Linear, MLP, ModuleList, NoiseSource, positionEmbeddingSine } from '@deformjs/nn';
import { Backbone } from './backbone';
import { validateDetrConfig, type DetrConfig } from './config';
import { resizeMaskNearest } from './masks';
import { readInputs, type DetectionOutputs, type Predictions } from './misc';
import { DetrTransformer } from './transformer';

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

  forward(images: tf.Tensor, mask: tf.Tensor): DetectionOutputs {
    const { n, height, width, maskData } = readInputs('DETR.forward', images, mask);
    const d = this.config.hiddenDim;
    return tf.tidy(() => {
      const [c5] = this.backbone.forward(images);
      const [, h, w] = c5.shape;
      const levelMask = tf.tensor3d(resizeMaskNearest(maskData, n, height, width, h, w), [n, h, w], 'bool');
      const pos = tf.reshape(positionEmbeddingSine(levelMask, { numPosFeats: d / 2, normalize: true }), [n, h * w, d]);
      const src = tf.reshape(this.inputProj.forward(c5), [n, h * w, d]);
      const hs = this.transformer.forward(src, tf.reshape(levelMask, [n, h * w]), this.queryEmbed.weight, pos);
      const predictions = hs.map((h): Predictions => ({
        predLogits: this.classEmbed.forward(h),
        predBoxes: tf.sigmoid(this.bboxEmbed.forward(h)),
      }));
      const last = predictions[predictions.length - 1];
      return {
        predLogits: last.predLogits,
        predBoxes: last.predBoxes,
        aux: predictions.slice(0, -1),
      } as unknown as tf.TensorContainer;
    }) as unknown as DetectionOutputs;
  }
}
