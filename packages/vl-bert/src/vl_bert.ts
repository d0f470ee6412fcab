import * as tf from '@tensorflow/tfjs-core';
import { argumentError, assertInteger, assertOneOf, checkShapes, Linear, Module, Rng } from '@deformjs/core';
import { Dropout, LayerNorm, ReLU, ResNet, roiAlign, Sequential, type FeatureName } from '@deformjs/nn';
import {
  BertModel,
  BertPreTrainingHeads,
  BertPredictionHeadTransform,
  type BertConfig,
  type BertOutputs,
  type ResolvedBertConfig,
} from './bert';

/** Segment ids as the paper: text A, text B, visual (RoIs and [END]). */
export const SEGMENT_A = 0;
export const SEGMENT_B = 1;
export const SEGMENT_VISUAL = 2;

export interface VLBertConfig extends Omit<BertConfig, 'typeVocabSize'> {
  /** The RoI appearance backbone: a ResNet (torchvision key names under `backbone.`). */
  backbone?: { depth?: 18 | 34; width?: number; feature?: FeatureName };
  /** Train the backbone end to end (default) or keep it frozen (its variables are left out of training). */
  trainBackbone?: boolean;
  /**
   * When > 0, the RoI appearance feature is a given precomputed region feature of this width (a fixed detector's
   * pooled feature, as upstream's VQA and RefCOCO+ runs read from files: `inputs.roiFeatures`) instead of backbone +
   * RoIAlign, and no backbone is built; the whole image's appearance is then the mean of its RoIs'. Default 0.
   */
  regionFeatureDim?: number;
  /** RoIAlign output side (default 4); the appearance feature is the flattened pooled map. */
  roiSize?: number;
  /** Sine/cosine frequencies per box coordinate (upstream 256: 4 x 2 x 256 = 2048); default 16. */
  geometryDim?: number;
  /** Width of the visual feature embedding before its projection to hiddenSize (upstream 2048); default 128. */
  visualDim?: number;
  /**
   * Initial gain of `visual_ln_text` / `visual_ln_object` (upstream's VISUAL_SCALE_{TEXT,OBJECT}_INIT, 0 in its
   * configs): the visual feature embedding starts at zero and grows as it learns, so a fresh image pathway does
   * not drown the words' embeddings (at BERT's 0.02 init a unit-gain visual term is 50 times larger).
   */
  visualScaleInit?: number;
  /** Classes of masked RoI classification (the detector's; the shapes world's 5 by default). */
  numRoiClasses?: number;
  /** Answer vocabulary size: adds `vqa_head` when > 0. */
  numAnswers?: number;
  /** Adds `grounding_head` (one score per RoI) for referring expressions. */
  grounding?: boolean;
  /** Adds `vcr_head` (one score per sequence, from [CLS]) for VCR-style multiple choice. */
  vcr?: boolean;
  /** Vocabulary ids of [IMG] and [END] (`tokenizer.id('[IMG]')`); default 5 and 6, the synthetic world's. */
  imgTokenId?: number;
  endTokenId?: number;
}

/**
 * Sine embedding of boxes relative to their image, as upstream's coordinate_embeddings: (cx, cy, w, h) / image
 * x 100, each divided by 1000^(i / dim), i < dim, then [sin, cos]: boxes [..., 4] xyxy -> [..., 8 dim].
 */
export function boxGeometryEmbedding(boxes: tf.Tensor, imageSize: [number, number], dim: number): tf.Tensor {
  assertInteger('boxGeometryEmbedding', 'dim', dim, 1);
  return tf.tidy(() => {
    const [x0, y0, x1, y1] = tf.unstack(boxes, -1);
    const [h, w] = imageSize;
    const position = tf.stack(
      [
        tf.mul(tf.add(x0, x1), 50 / w),
        tf.mul(tf.add(y0, y1), 50 / h),
        tf.mul(tf.sub(x1, x0), 100 / w),
        tf.mul(tf.sub(y1, y0), 100 / h),
      ],
      -1,
    );
    const frequencies = tf.pow(1000, tf.div(tf.range(0, dim), dim));
    const angles = tf.div(tf.expandDims(position, -1), frequencies);
    const embedding = tf.concat([tf.sin(angles), tf.cos(angles)], -1);
    return tf.reshape(embedding, [...boxes.shape.slice(0, -1), 8 * dim]);
  });
}

export interface VLBertInputs {
  /** Normalised images [B, S, S, 3] (a masked RoI's pixels already zeroed). */
  images: tf.Tensor;
  /** Precomputed region features [B, R, regionFeatureDim] (a masked RoI's already zeroed); needed iff the config has them. */
  roiFeatures?: tf.Tensor;
  /** Candidate regions [B, R, 4], xyxy in image pixels (padding rows anything inside the image). */
  boxes: tf.Tensor;
  /** [B, R]: 1 for a real RoI, 0 for padding. */
  roiMask: tf.Tensor;
  /** `[CLS] a [SEP] (b [SEP])` ids [B, T], their segments (A 0, B 1) and mask (1 real, 0 padding). */
  textIds: tf.Tensor;
  textSegments: tf.Tensor;
  textMask: tf.Tensor;
  /**
   * 'real' (default); 'zeroed': every visual feature embedding is zero (what the words can tell without the
   * image); 'none': text only, the RoIs masked out and no visual embedding (text-only MLM).
   */
  visual?: 'real' | 'zeroed' | 'none';
}

export type VLBertOutputs = BertOutputs & {
  /** [B, T, H] and [B, R, H]: the last hidden state's text and RoI parts. */
  text: tf.Tensor;
  rois: tf.Tensor;
};

/** The visual feature embedding's FC: dropout, linear, ReLU (upstream's obj_downsample). */
function visualDownsample(rng: Rng, dropout: Dropout, inFeatures: number, outFeatures: number): Sequential {
  return new Sequential(dropout, new Linear(rng, inFeatures, outFeatures), new ReLU());
}

/**
 * VL-BERT: one BERT encoder over `[CLS] text [SEP] [IMG] x R [END]`. Each element sums its token embedding,
 * a visual feature embedding (the whole image's for text, its own RoI's for [IMG]), a segment embedding (A/B
 * text, visual) and a position embedding (text sequential, all RoIs one position, [END] the next), then
 * LayerNorm. The visual feature embedding is FC(concat(RoIAlign appearance from the backbone, box geometry
 * sine embedding)), projected per kind (`visual_1x1_text`, `visual_1x1_object`) and layer-normed.
 */
export class VLBert extends Module {
  readonly config: ResolvedBertConfig &
    Required<Omit<VLBertConfig, keyof BertConfig | 'backbone'>> & {
      backbone: Required<NonNullable<VLBertConfig['backbone']>>;
    };
  readonly bert: BertModel;
  /** null when the model reads precomputed region features. */
  readonly backbone: ResNet | null;
  readonly obj_downsample: Sequential;
  readonly visual_1x1_text: Linear;
  readonly visual_1x1_object: Linear;
  readonly visual_ln_text: LayerNorm;
  readonly visual_ln_object: LayerNorm;
  readonly cls: BertPreTrainingHeads;
  readonly mvrc_head: RoiClassificationHead;
  readonly vqa_head: VqaHead | null;
  readonly grounding_head: ScoreHead | null;
  readonly vcr_head: ScoreHead | null;
  private readonly appearanceDim: number;
  private readonly stride: number;

  constructor(config: VLBertConfig) {
    super();
    const op = 'VLBert';
    const backbone = { depth: 18 as const, width: 8, feature: 'C3' as FeatureName, ...config.backbone };
    this.bert = this.addModule('bert', new BertModel({ ...config, typeVocabSize: 3 }));
    const c = {
      ...this.bert.config,
      trainBackbone: true,
      regionFeatureDim: 0,
      roiSize: 4,
      geometryDim: 16,
      visualDim: 128,
      visualScaleInit: 0,
      numRoiClasses: 5,
      numAnswers: 0,
      grounding: false,
      vcr: false,
      imgTokenId: 5,
      endTokenId: 6,
      ...Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined)),
      typeVocabSize: 3,
      backbone,
    };
    this.config = c as VLBert['config'];
    for (const name of ['roiSize', 'geometryDim', 'visualDim', 'numRoiClasses'] as const)
      assertInteger(op, `config.${name}`, c[name], 1);
    assertInteger(op, 'config.regionFeatureDim', c.regionFeatureDim, 0);
    assertInteger(op, 'config.numAnswers', c.numAnswers, 0);
    assertInteger(op, 'config.imgTokenId', c.imgTokenId, 0, c.vocabSize - 1);
    assertInteger(op, 'config.endTokenId', c.endTokenId, 0, c.vocabSize - 1);
    assertOneOf(op, 'config.backbone.feature', backbone.feature, ['C2', 'C3', 'C4', 'C5']);
    const rng = new Rng(c.seed).fork().fork();
    const backboneSeed = rng.int(2 ** 30);
    if (c.regionFeatureDim > 0) {
      this.backbone = null;
      this.stride = 1;
      this.appearanceDim = c.regionFeatureDim;
    } else {
      this.backbone = this.addModule(
        'backbone',
        new ResNet({
          depth: backbone.depth,
          width: backbone.width,
          returnFeatures: [backbone.feature],
          seed: backboneSeed,
        }),
      );
      this.stride = this.backbone.strides[backbone.feature];
      this.appearanceDim = c.roiSize * c.roiSize * this.backbone.channels[backbone.feature];
    }
    const H = c.hiddenSize;
    this.obj_downsample = this.addModule(
      'obj_downsample',
      visualDownsample(rng, new Dropout(0.1, this.bert.noise), this.appearanceDim + 8 * c.geometryDim, c.visualDim),
    );
    this.visual_1x1_text = this.addModule('visual_1x1_text', new Linear(rng, c.visualDim, H));
    this.visual_1x1_object = this.addModule('visual_1x1_object', new Linear(rng, c.visualDim, H));
    this.visual_ln_text = this.addModule('visual_ln_text', new LayerNorm(H, c.layerNormEps));
    this.visual_ln_object = this.addModule('visual_ln_object', new LayerNorm(H, c.layerNormEps));
    for (const norm of [this.visual_ln_text, this.visual_ln_object])
      tf.tidy(() => norm.weight.assign(tf.fill([H], c.visualScaleInit)));
    this.cls = this.addModule('cls', new BertPreTrainingHeads(rng, c, this.bert.embeddings.word_embeddings));
    this.mvrc_head = this.addModule('mvrc_head', new RoiClassificationHead(rng, c, c.numRoiClasses));
    this.vqa_head =
      c.numAnswers > 0 ? this.addModule('vqa_head', new VqaHead(rng, this.bert.noise, H, c.numAnswers)) : null;
    this.grounding_head = c.grounding ? this.addModule('grounding_head', new ScoreHead(rng, this.bert.noise, H)) : null;
    this.vcr_head = c.vcr ? this.addModule('vcr_head', new ScoreHead(rng, this.bert.noise, H)) : null;
  }

  /** What an optimiser should update: everything, less the backbone when it is frozen. */
  trainingVariables(): tf.Variable[] {
    return this.namedParameters()
      .filter(([name, p]) => p.trainable && (this.config.trainBackbone || !name.startsWith('backbone.')))
      .map(([, p]) => p.variable);
  }

  /**
   * Visual feature embeddings of the whole image [B, V] and of every RoI [B, R, V] (before the 1x1 projections).
   * `regions` (the precomputed features [B, R, D] and the RoI mask [B, R]) are required iff `regionFeatureDim > 0`.
   */
  visualFeatures(
    images: tf.Tensor,
    boxes: tf.Tensor,
    regions?: { features: tf.Tensor; roiMask: tf.Tensor },
  ): { image: tf.Tensor; rois: tf.Tensor } {
    return tf.tidy(() => {
      const [B, S1, S2] = images.shape;
      const R = boxes.shape[1]!;
      // Row 0 of every image is the whole image (the text tokens' visual feature), then its RoIs.
      const whole = tf.tile(tf.tensor3d([[[0, 0, S2!, S1!]]]), [B, 1, 1]);
      const all = tf.concat([whole, boxes], 1);
      const appearance = this.backbone ? this.pooledAppearance(images, all) : this.regionAppearance(B, R, regions);
      const geometry = boxGeometryEmbedding(all, [S1!, S2!], this.config.geometryDim);
      const v = this.obj_downsample.forward(tf.concat([appearance, geometry], -1));
      const [image, rois] = tf.split(v, [1, R], 1);
      return { image: tf.reshape(image, [B, this.config.visualDim]), rois };
    });
  }

  /** Backbone + RoIAlign over the rows [B, R + 1, 4] (whole image, then RoIs) -> [B, R + 1, appearanceDim]. */
  private pooledAppearance(images: tf.Tensor, all: tf.Tensor): tf.Tensor {
    const [B, R1] = all.shape;
    const features = this.backbone!.forward(images)[this.config.backbone.feature]!;
    const batchIndex = tf.reshape(tf.tile(tf.reshape(tf.range(0, B), [B!, 1, 1]), [1, R1!, 1]), [B!, R1!, 1]);
    const rows = tf.reshape(tf.concat([batchIndex, all], 2), [B! * R1!, 5]);
    const pooled = roiAlign(features, rows, this.config.roiSize, {
      spatialScale: 1 / this.stride,
      samplingRatio: 2,
      aligned: true,
    });
    return tf.reshape(pooled, [B!, R1!, this.appearanceDim]);
  }

  /** Precomputed region features, the whole image's being the mean over its real RoIs -> [B, R + 1, D]. */
  private regionAppearance(B: number, R: number, regions?: { features: tf.Tensor; roiMask: tf.Tensor }): tf.Tensor {
    const op = 'VLBert.visualFeatures';
    if (!regions)
      throw argumentError(op, 'roiFeatures', `[B, R, ${this.appearanceDim}] precomputed region features`, 'none');
    checkShapes(op, [{ name: 'roiFeatures', shape: regions.features.shape, expected: [B, R, this.appearanceDim] }]);
    const mask = tf.expandDims(tf.cast(regions.roiMask, 'float32'), -1);
    const sum = tf.sum(tf.mul(regions.features, mask), 1, true);
    const mean = tf.div(sum, tf.maximum(tf.sum(mask, 1, true), 1));
    return tf.concat([mean, regions.features], 1);
  }

  forward(inputs: VLBertInputs): VLBertOutputs {
    const op = 'VLBert.forward';
    const { images, boxes, roiMask, textIds, textSegments, textMask, roiFeatures, visual = 'real' } = inputs;
    const { B, T, R } = checkShapes(op, [
      { name: 'images', shape: images.shape, expected: ['B', null, null, 3] },
      { name: 'boxes', shape: boxes.shape, expected: ['B', 'R', 4] },
      { name: 'roiMask', shape: roiMask.shape, expected: ['B', 'R'] },
      { name: 'textIds', shape: textIds.shape, expected: ['B', 'T'] },
      { name: 'textSegments', shape: textSegments.shape, expected: ['B', 'T'] },
      { name: 'textMask', shape: textMask.shape, expected: ['B', 'T'] },
    ]);
    assertOneOf(op, 'visual', visual, ['real', 'zeroed', 'none']);
    if (T + 2 > this.config.maxPositionEmbeddings)
      throw argumentError(
        op,
        'textIds',
        `at most maxPositionEmbeddings - 2 = ${this.config.maxPositionEmbeddings - 2} tokens`,
        T,
      );
    const H = this.config.hiddenSize;
    return tf.tidy(() => {
      let textVisual: tf.Tensor;
      let roiVisual: tf.Tensor;
      if (visual === 'real') {
        const v = this.visualFeatures(images, boxes, roiFeatures && { features: roiFeatures, roiMask });
        textVisual = this.visual_ln_text.forward(this.visual_1x1_text.forward(v.image));
        roiVisual = this.visual_ln_object.forward(this.visual_1x1_object.forward(v.rois));
      } else {
        textVisual = tf.zeros([B, H]);
        roiVisual = tf.zeros([B, R, H]);
      }
      const tokens = this.tokenIds(B, R);
      const ids = tf.concat([tf.cast(textIds, 'int32'), tokens], 1);
      const segments = tf.concat([tf.cast(textSegments, 'int32'), tf.fill([B, R + 1], SEGMENT_VISUAL, 'int32')], 1);
      // Text positions 0..T-1; every RoI takes the position after the text, [END] the one after that.
      const textLength = tf.cast(tf.sum(textMask, 1, true), 'int32');
      const positions = tf.concat(
        [
          tf.tile(tf.expandDims(tf.range(0, T, 1, 'int32'), 0), [B, 1]),
          tf.tile(textLength, [1, R]),
          tf.add(textLength, 1),
        ],
        1,
      );
      const textVisualAll = tf.tile(tf.expandDims(textVisual, 1), [1, T, 1]);
      const visualEmbedding = tf.concat([textVisualAll, roiVisual, tf.expandDims(textVisual, 1)], 1);
      const embeddings = this.bert.embeddings.forward(ids, segments, positions, visualEmbedding);
      const roiAttend = visual === 'none' ? tf.zerosLike(roiMask) : tf.cast(roiMask, 'float32');
      const endAttend = visual === 'none' ? tf.zeros([B, 1]) : tf.ones([B, 1]);
      const attention = tf.concat([tf.cast(textMask, 'float32'), roiAttend, endAttend], 1);
      const out = this.bert.encode(embeddings, attention);
      const text = tf.slice(out.lastHiddenState, [0, 0, 0], [B, T, H]);
      const rois = tf.slice(out.lastHiddenState, [0, T, 0], [B, R, H]);
      return { ...out, text, rois };
    });
  }

  private tokenIds(B: number, R: number): tf.Tensor {
    const { imgTokenId, endTokenId } = this.config;
    return tf.concat([tf.fill([B, R], imgTokenId, 'int32'), tf.fill([B, 1], endTokenId, 'int32')], 1);
  }
}

/** Masked RoI classification: transform (dense, GELU, LayerNorm) then one logit per detector class. */
export class RoiClassificationHead extends Module {
  readonly transform: BertPredictionHeadTransform;
  readonly decoder: Linear;
  constructor(rng: Rng, c: ResolvedBertConfig, numClasses: number) {
    super();
    this.transform = this.addModule('transform', new BertPredictionHeadTransform(rng, c));
    this.decoder = this.addModule('decoder', new Linear(rng, c.hiddenSize, numClasses));
  }
  forward(hidden: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.decoder.forward(this.transform.forward(hidden)));
  }
}

/** Upstream's VQA final_mlp: dropout, linear (2H), ReLU, dropout, linear (answers), on the [MASK] token. */
export class VqaHead extends Module {
  readonly final_mlp: Sequential;
  constructor(rng: Rng, noise: VLBert['bert']['noise'], hidden: number, numAnswers: number) {
    super();
    this.final_mlp = this.addModule(
      'final_mlp',
      new Sequential(
        new Dropout(0.1, noise),
        new Linear(rng, hidden, 2 * hidden),
        new ReLU(),
        new Dropout(0.1, noise),
        new Linear(rng, 2 * hidden, numAnswers),
      ),
    );
  }
  forward(hidden: tf.Tensor): tf.Tensor {
    return this.final_mlp.forward(hidden);
  }
}

/**
 * Upstream's final_mlp of RefCOCO (one score per RoI) and of VCR (one score per answer sequence, on [CLS]): dropout,
 * linear, ReLU, dropout, linear to one score.
 */
export class ScoreHead extends Module {
  readonly final_mlp: Sequential;
  constructor(rng: Rng, noise: VLBert['bert']['noise'], hidden: number) {
    super();
    this.final_mlp = this.addModule(
      'final_mlp',
      new Sequential(
        new Dropout(0.1, noise),
        new Linear(rng, hidden, hidden),
        new ReLU(),
        new Dropout(0.1, noise),
        new Linear(rng, hidden, 1),
      ),
    );
  }
  /** [..., H] -> scores [...]. */
  forward(hidden: tf.Tensor): tf.Tensor {
    return tf.tidy(() => tf.squeeze(this.final_mlp.forward(hidden), [-1]));
  }
}
