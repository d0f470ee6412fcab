import * as tf from '@tensorflow/tfjs-core';
import { Module, Rng, xavierUniform } from '@deformjs/core';
import {
  Conv2d,
  GroupNorm,
  LayerNorm,
  Linear,
  MLP,
  ModuleList,
  NoiseSource,
  Sequential,
  positionEmbeddingSine,
} from '@deformjs/nn';
import { validateDeformableDetrConfig, type DeformableDetrConfig } from './config';
import {
  DeformableDecoder,
  DeformableDecoderLayer,
  DeformableEncoder,
  DeformableEncoderLayer,
  inverseSigmoid,
  type Levels,
} from './deformable_transformer';
import { Backbone, Embedding, readInputs, type DetectionOutputs, type Predictions } from './heads';
import { encoderProposals, encoderReferencePoints, resizeMaskNearest, validRatios } from './masks';

/** Deformable DETR's sine embedding of normalised positions: proposals [N, K, 4] (logits) -> [N, K, 4 * d/2]. */
function proposalPosEmbed(proposals: tf.Tensor, numPosFeats: number): tf.Tensor {
  return tf.tidy(() => {
    const [n, k] = proposals.shape;
    const dimT = Float32Array.from({ length: numPosFeats }, (_, i) => 10000 ** ((2 * Math.floor(i / 2)) / numPosFeats));
    const pos = tf.div(tf.expandDims(tf.mul(tf.sigmoid(proposals), 2 * Math.PI), -1), tf.tensor(dimT));
    const even = tf.broadcastTo(
      tf.tensor(
        Array.from({ length: numPosFeats }, (_, i) => i % 2 === 0),
        [numPosFeats],
        'bool',
      ),
      pos.shape,
    );
    return tf.reshape(tf.where(even, tf.sin(pos), tf.cos(pos)), [n, k, 4 * numPosFeats]);
  });
}

/**
 * DeformableTransformer: the level embedding, the deformable encoder and decoder, and the queries' origin:
 * learned query embeddings with `reference_points` (one-stage), or the encoder's top-k proposals (two-stage).
 */
export class DeformableTransformer extends Module {
  readonly levelEmbed: tf.Variable;
  readonly encoder: DeformableEncoder;
  readonly decoder: DeformableDecoder;
  readonly referencePoints: Linear | null = null;
  readonly encOutput: Linear | null = null;
  readonly encOutputNorm: LayerNorm | null = null;
  readonly posTrans: Linear | null = null;
  readonly posTransNorm: LayerNorm | null = null;

  constructor(
    rng: Rng,
    noise: NoiseSource,
    readonly config: DeformableDetrConfig,
  ) {
    super();
    const { hiddenDim: d, dimFeedforward, dropout, numFeatureLevels: L, nHeads, encNPoints, decNPoints } = config;
    const enc = Array.from(
      { length: config.encLayers },
      () => new DeformableEncoderLayer(rng, noise, d, dimFeedforward, dropout, L, nHeads, encNPoints),
    );
    const dec = Array.from(
      { length: config.decLayers },
      () => new DeformableDecoderLayer(rng, noise, d, dimFeedforward, dropout, L, nHeads, decNPoints),
    );
    this.encoder = this.addModule('encoder', new DeformableEncoder(enc));
    this.decoder = this.addModule('decoder', new DeformableDecoder(dec));
    this.levelEmbed = this.addParameter('level_embed', rng.normalTensor([L, d]));
    if (config.twoStage) {
      this.encOutput = this.addModule('enc_output', new Linear(rng, d, d));
      this.encOutputNorm = this.addModule('enc_output_norm', new LayerNorm(d));
      this.posTrans = this.addModule('pos_trans', new Linear(rng, 2 * d, 2 * d));
      this.posTransNorm = this.addModule('pos_trans_norm', new LayerNorm(2 * d));
    } else {
      this.referencePoints = this.addModule('reference_points', new Linear(rng, d, 2));
    }
    // _reset_parameters: xavier_uniform for every matrix, except the deformable attention's offset and
    // weight projections, which keep their zero init; reference_points' bias 0.
    for (const [name, p] of this.namedParameters()) {
      if (p.variable.rank !== 2 || name === 'level_embed' || /sampling_offsets|attention_weights/.test(name)) continue;
      const [fanIn, fanOut] = p.variable.shape;
      tf.tidy(() => p.variable.assign(xavierUniform(rng, [fanIn, fanOut], fanIn, fanOut)));
    }
    if (this.referencePoints) tf.tidy(() => this.referencePoints!.bias!.assign(tf.zeros([2])));
  }
}

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
    if (config.twoStage) this.transformer.decoder.shareHeads('class_embed', classHeads);
  }

  /** Every trainable variable once (shared heads are listed under several names). */
  uniqueTrainableVariables(): tf.Variable[] {
    return [...new Set(this.trainableVariables())];
  }

  forward(images: tf.Tensor, mask: tf.Tensor): DetectionOutputs {
    const { n, height, width, maskData } = readInputs('DeformableDETR.forward', images, mask);
    const { hiddenDim: d, numFeatureLevels: L, decLayers } = this.config;
    const t = this.transformer;
    let keptDecoder: tf.Tensor[] = [];
    const result = tf.tidy(() => {
      const feats = this.backbone.forward(images);
      const srcs = feats.map((f, l) => this.inputProj[l].forward(f));
      for (let l = feats.length; l < L; l++)
        srcs.push(this.inputProj[l].forward(l === feats.length ? feats[feats.length - 1] : srcs[l - 1]));
      const shapes = srcs.map((s) => [s.shape[1], s.shape[2]] as [number, number]);
      const starts = shapes.map((_, i) => shapes.slice(0, i).reduce((s, [h, w]) => s + h * w, 0));
      const S = shapes.reduce((s, [h, w]) => s + h * w, 0);
      const levelMasks = shapes.map(([h, w]) => resizeMaskNearest(maskData, n, height, width, h, w));

      const flatSrc: tf.Tensor[] = [];
      const flatPos: tf.Tensor[] = [];
      const flatMask: tf.Tensor[] = [];
      srcs.forEach((src, l) => {
        const [h, w] = shapes[l];
        const levelMask = tf.tensor3d(levelMasks[l], [n, h, w], 'bool');
        const pos = positionEmbeddingSine(levelMask, { numPosFeats: d / 2, normalize: true, offset: -0.5 });
        flatSrc.push(tf.reshape(src, [n, h * w, d]));
        flatPos.push(tf.add(tf.reshape(pos, [n, h * w, d]), tf.slice(t.levelEmbed, [l, 0], [1, d])));
        flatMask.push(tf.reshape(levelMask, [n, h * w]));
      });
      const src = tf.concat(flatSrc, 1);
      const pos = tf.concat(flatPos, 1);
      const levels: Levels = { shapes, starts, paddingMask: tf.concat(flatMask, 1) };
      const ratios = validRatios(levelMasks, shapes, n);
      const validRatiosT = tf.tensor3d(Float32Array.from(ratios), [n, L, 2]);
      const encoderRefs = tf.tensor4d(encoderReferencePoints(shapes, ratios, n), [n, S, L, 2]);
      const memory = t.encoder.forward(src, pos, encoderRefs, levels);

      let queryPos: tf.Tensor;
      let tgt: tf.Tensor;
      let reference: tf.Tensor;
      let enc: Predictions | undefined;
      if (this.config.twoStage) {
        const { logits, invalid } = encoderProposals(levelMasks, shapes, n);
        const keep = tf.tensor3d(
          Float32Array.from(invalid, (v) => 1 - v),
          [n, S, 1],
        );
        const outputMemory = t.encOutputNorm!.forward(t.encOutput!.forward(tf.mul(memory, keep)));
        const encClass = this.classEmbed[decLayers].forward(outputMemory);
        const encCoordUnact = tf.add(this.bboxEmbed[decLayers].forward(outputMemory), tf.tensor3d(logits, [n, S, 4]));
        enc = { predLogits: encClass, predBoxes: tf.sigmoid(encCoordUnact) };
        // Top-k proposals by their first class's score; the chosen boxes are detached (read back as data).
        const k = this.config.numQueries;
        if (k > S)
          throw new Error(
            `DeformableDETR.forward: two-stage takes the top numQueries = ${k} of the encoder's ${S} positions; the images are too small for that many`,
          );
        const scores = tf.squeeze(tf.slice(encClass, [0, 0, 0], [-1, -1, 1]), [2]).dataSync();
        const coords = encCoordUnact.dataSync();
        const chosen = new Float32Array(n * k * 4);
        for (let b = 0; b < n; b++) {
          const order = topIndices(scores.subarray(b * S, (b + 1) * S), k);
          order.forEach((s, i) => chosen.set(coords.subarray((b * S + s) * 4, (b * S + s + 1) * 4), (b * k + i) * 4));
        }
        const topkCoordsUnact = tf.tensor3d(chosen, [n, k, 4]);
        reference = tf.sigmoid(topkCoordsUnact);
        const posTransOut = t.posTransNorm!.forward(t.posTrans!.forward(proposalPosEmbed(topkCoordsUnact, d / 2)));
        [queryPos, tgt] = tf.split(posTransOut, 2, 2);
      } else {
        const q = this.config.numQueries;
        const [qp, tg] = tf.split(this.queryEmbed!.weight, 2, 1);
        queryPos = tf.broadcastTo(tf.expandDims(qp, 0), [n, q, d]);
        tgt = tf.broadcastTo(tf.expandDims(tg, 0), [n, q, d]);
        reference = tf.sigmoid(t.referencePoints!.forward(queryPos));
      }
      const { hs, references } = t.decoder.forward(tgt, reference, memory, validRatiosT, queryPos, levels);
      keptDecoder = [...hs, ...references];
      const predictions = hs.map((h, lvl): Predictions => {
        const ref = inverseSigmoid(lvl === 0 ? reference : references[lvl - 1]);
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
      if (enc) out.enc = enc;
      return out as unknown as tf.TensorContainer;
    }) as unknown as DetectionOutputs;
    tf.dispose(keptDecoder);
    return result;
  }
}

function copyState(from: Module, to: Module): void {
  const state = from.stateDict();
  to.loadStateDict(state);
  tf.dispose(Object.values(state));
}

/** Indices of the k largest scores, largest first; ties keep the lower index first. */
function topIndices(scores: ArrayLike<number>, k: number): number[] {
  const idx = Array.from({ length: scores.length }, (_, i) => i);
  idx.sort((a, b) => scores[b] - scores[a] || a - b);
  return idx.slice(0, k);
}
