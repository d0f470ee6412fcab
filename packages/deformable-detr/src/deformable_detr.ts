import * as tf from '@tensorflow/tfjs-core';
import { Module, Rng, xavierUniform } from '@deformjs/core';
import {
  Conv2d,
  Embedding,
  GroupNorm,
  Linear,
  MLP,
  ModuleList,
  NoiseSource,
  Sequential,
  positionEmbeddingSine,
} from '@deformjs/nn';
import { Backbone } from './backbone';
import { validateDeformableDetrConfig, type DeformableDetrConfig } from './config';
import { DeformableTransformer } from './deformable_transformer';
import { resizeMaskNearest } from './masks';
import { inverseSigmoid, readInputs, type DetectionOutputs, type Predictions } from './misc';

/**
 * Deformable DETR (arXiv 2010.04159), the official module tree and state_dict names: `backbone.0.body.*`,
 * `input_proj.<l>.{0,1}`, `transformer.*`, `query_embed`, `class_embed.<i>`, `bbox_embed.<i>.layers.<j>`.
 * `forward(images, mask)` takes NHWC images and the padding mask (true at padding) and returns the last
 * decoder layer's logits and boxes, the earlier layers' (`aux`) and, two-stage, the encoder proposals (`enc`).
 */
export class DeformableDETR extends Module {
  readonly config: DeformableDetrConfig;
  /** The dropout generator; checkpoints save `noise.rng.state()`. */
  readonly noise: NoiseSource;
  readonly backbone: Backbone;
  readonly transformer: DeformableTransformer;
  readonly inputProj: Sequential[];
  readonly queryEmbed: Embedding | null = null;
  readonly classEmbed: Linear[];
  readonly bboxEmbed: MLP[];

  constructor(config: DeformableDetrConfig) {
    super();
    this.config = validateDeformableDetrConfig(config);
    const { hiddenDim: d, numFeatureLevels: L, numClasses, groupNormGroups } = config;
    const rng = new Rng(config.seed);
    this.noise = new NoiseSource(rng.fork());
    const backbones = this.addModule('backbone', new ModuleList());
    this.backbone = backbones.add('0', new Backbone(config.backbone, L > 1, config.seed));
    this.transformer = this.addModule('transformer', new DeformableTransformer(rng, this.noise, config));

    const projections = this.addModule('input_proj', new ModuleList());
    const channels = this.backbone.channels;
    this.inputProj = [];
    for (let l = 0; l < L; l++) {
      const extra = l >= channels.length;
      const inChannels = !extra ? channels[l] : l === channels.length ? channels[channels.length - 1] : d;
      const conv = extra
        ? new Conv2d(rng, inChannels, d, 3, { stride: 2, padding: 1 })
        : new Conv2d(rng, inChannels, d, 1);
      const k = extra ? 3 : 1;
      tf.tidy(() => {
        conv.weight.assign(xavierUniform(rng, [k, k, inChannels, d], inChannels * k * k, d * k * k));
        conv.bias!.assign(tf.zeros([d]));
      });
      this.inputProj.push(projections.add(String(l), new Sequential(conv, new GroupNorm(groupNormGroups, d))));
    }
    if (!config.twoStage) this.queryEmbed = this.addModule('query_embed', new Embedding(rng, config.numQueries, 2 * d));

    // One prediction per decoder layer, plus the encoder proposals' for two-stage. Without refinement the
    // heads are one module shared by every layer (as upstream, listed under every index).
    const numPred = config.decLayers + (config.twoStage ? 1 : 0);
    const classHeads = this.addModule('class_embed', new ModuleList());
    const boxHeads = this.addModule('bbox_embed', new ModuleList());
    const priorBias = -Math.log((1 - 0.01) / 0.01);
    const makeHeads = (): [Linear, MLP] => {
      const cls = new Linear(rng, d, numClasses);
      const box = new MLP(rng, d, d, 4, 3);
      tf.tidy(() => {
        cls.bias!.assign(tf.fill([numClasses], priorBias));
        const last = box.layers[2];
        last.weight.assign(tf.zeros(last.weight.shape));
        last.bias!.assign(tf.zeros([4]));
      });
      return [cls, box];
    };
    const [firstClass, firstBox] = makeHeads();
    this.classEmbed = [];
    this.bboxEmbed = [];
    for (let i = 0; i < numPred; i++) {
      let [cls, box] = [firstClass, firstBox];
      if (config.withBoxRefine && i > 0) {
        // _get_clones: deep copies of the initialised heads.
        [cls, box] = makeHeads();
        copyState(firstClass, cls);
        copyState(firstBox, box);
      }
      this.classEmbed.push(classHeads.add(String(i), cls));
      this.bboxEmbed.push(boxHeads.add(String(i), box));
    }
    // bias[2:] = -2 (boxes start small) on the first box head; two-stage resets it to 0 on all of them.
    if (!config.twoStage) tf.tidy(() => firstBox.layers[2].bias!.assign(tf.tensor1d([0, 0, -2, -2])));
    if (config.withBoxRefine) {
      this.transformer.decoder.shareHeads('bbox_embed', boxHeads);
      this.transformer.decoder.bboxEmbed = this.bboxEmbed;
    }
    if (config.twoStage) {
      this.transformer.decoder.shareHeads('class_embed', classHeads);
      this.transformer.proposalHeads = {
        classEmbed: this.classEmbed[numPred - 1],
        bboxEmbed: this.bboxEmbed[numPred - 1],
      };
    }
  }

  forward(images: tf.Tensor, mask: tf.Tensor): DetectionOutputs {
    const { n, height, width, maskData } = readInputs('DeformableDETR.forward', images, mask);
    const { hiddenDim: d, numFeatureLevels: L } = this.config;
    return tf.tidy(() => {
      const feats = this.backbone.forward(images);
      const srcs = feats.map((f, l) => this.inputProj[l].forward(f));
      for (let l = feats.length; l < L; l++)
        srcs.push(this.inputProj[l].forward(l === feats.length ? feats[feats.length - 1] : srcs[l - 1]));
      const masks = srcs.map((s) => resizeMaskNearest(maskData, n, height, width, s.shape[1]!, s.shape[2]!));
      const posEmbeds = srcs.map((s, l) =>
        positionEmbeddingSine(tf.tensor3d(masks[l], [n, s.shape[1]!, s.shape[2]!], 'bool'), {
          numPosFeats: d / 2,
          normalize: true,
          offset: -0.5,
        }),
      );
      const { hs, initReference, interReferences, encOutputsClass, encOutputsCoordUnact } = this.transformer.forward(
        srcs,
        masks,
        posEmbeds,
        this.queryEmbed?.weight ?? null,
      );
      const predictions = hs.map((h, lvl): Predictions => {
        const ref = inverseSigmoid(lvl === 0 ? initReference : interReferences[lvl - 1]);
        const delta = this.bboxEmbed[lvl].forward(h);
        const unact =
          ref.shape[2] === 4
            ? tf.add(delta, ref)
            : tf.concat(
                [tf.add(tf.slice(delta, [0, 0, 0], [-1, -1, 2]), ref), tf.slice(delta, [0, 0, 2], [-1, -1, 2])],
                -1,
              );
        return { predLogits: this.classEmbed[lvl].forward(h), predBoxes: tf.sigmoid(unact) };
      });
      const last = predictions[predictions.length - 1];
      const out: DetectionOutputs = {
        predLogits: last.predLogits,
        predBoxes: last.predBoxes,
        aux: predictions.slice(0, -1),
      };
      if (encOutputsClass) out.enc = { predLogits: encOutputsClass, predBoxes: tf.sigmoid(encOutputsCoordUnact!) };
      return out as unknown as tf.TensorContainer;
    }) as unknown as DetectionOutputs;
  }
}

function copyState(from: Module, to: Module): void {
  const state = from.stateDict();
  to.loadStateDict(state);
  tf.dispose(Object.values(state));
}
