import * as tf from '@tensorflow/tfjs-core';
import { Module, type Rng, stopGradient, xavierUniform } from '@deformjs/core';
import { MSDeformAttn } from '@deformjs/msda';
import { Dropout, LayerNorm, Linear, type MLP, ModuleList, MultiheadAttention, type NoiseSource } from '@deformjs/nn';
import type { DeformableDetrConfig } from './config';
import { encoderProposals, encoderReferencePoints, validRatios } from './masks';
import { inverseSigmoid } from './misc';

/** Multi-scale geometry shared by every layer of one forward pass. */
export interface Levels {
  /** (H, W) per level. */
  shapes: [number, number][];
  starts: number[];
  /** [N, S] bool, true at padding. */
  paddingMask: tf.Tensor;
}

/** DeformableTransformerEncoderLayer: deformable self-attention over all levels, then the FFN, post-norm. */
export class DeformableEncoderLayer extends Module {
  readonly selfAttn: MSDeformAttn;
  readonly dropout1: Dropout;
  readonly norm1: LayerNorm;
  readonly linear1: Linear;
  readonly dropout2: Dropout;
  readonly linear2: Linear;
  readonly dropout3: Dropout;
  readonly norm2: LayerNorm;

  constructor(
    rng: Rng,
    noise: NoiseSource,
    d: number,
    dFfn: number,
    dropout: number,
    nLevels: number,
    nHeads: number,
    nPoints: number,
  ) {
    super();
    this.selfAttn = this.addModule('self_attn', new MSDeformAttn({ dModel: d, nLevels, nHeads, nPoints, rng }));
    this.dropout1 = this.addModule('dropout1', new Dropout(dropout, noise));
    this.norm1 = this.addModule('norm1', new LayerNorm(d));
    this.linear1 = this.addModule('linear1', new Linear(rng, d, dFfn));
    this.dropout2 = this.addModule('dropout2', new Dropout(dropout, noise));
    this.linear2 = this.addModule('linear2', new Linear(rng, dFfn, d));
    this.dropout3 = this.addModule('dropout3', new Dropout(dropout, noise));
    this.norm2 = this.addModule('norm2', new LayerNorm(d));
  }

  forward(src: tf.Tensor, pos: tf.Tensor, referencePoints: tf.Tensor, levels: Levels): tf.Tensor {
    return tf.tidy(() => {
      const attended = this.selfAttn.forward(
        tf.add(src, pos),
        referencePoints,
        src,
        levels.shapes,
        levels.starts,
        levels.paddingMask,
      );
      const x = this.norm1.forward(tf.add(src, this.dropout1.forward(attended)));
      const ffn = this.linear2.forward(this.dropout2.forward(tf.relu(this.linear1.forward(x))));
      return this.norm2.forward(tf.add(x, this.dropout3.forward(ffn)));
    });
  }
}

/**
 * DeformableTransformerDecoderLayer: self-attention among the queries (nn.MultiheadAttention), deformable
 * cross-attention into the encoder memory around each query's reference point, then the FFN, post-norm.
 */
export class DeformableDecoderLayer extends Module {
  readonly crossAttn: MSDeformAttn;
  readonly dropout1: Dropout;
  readonly norm1: LayerNorm;
  readonly selfAttn: MultiheadAttention;
  readonly dropout2: Dropout;
  readonly norm2: LayerNorm;
  readonly linear1: Linear;
  readonly dropout3: Dropout;
  readonly linear2: Linear;
  readonly dropout4: Dropout;
  readonly norm3: LayerNorm;

  constructor(
    rng: Rng,
    noise: NoiseSource,
    d: number,
    dFfn: number,
    dropout: number,
    nLevels: number,
    nHeads: number,
    nPoints: number,
  ) {
    super();
    this.crossAttn = this.addModule('cross_attn', new MSDeformAttn({ dModel: d, nLevels, nHeads, nPoints, rng }));
    this.dropout1 = this.addModule('dropout1', new Dropout(dropout, noise));
    this.norm1 = this.addModule('norm1', new LayerNorm(d));
    this.selfAttn = this.addModule('self_attn', new MultiheadAttention(rng, d, nHeads, dropout, noise));
    this.dropout2 = this.addModule('dropout2', new Dropout(dropout, noise));
    this.norm2 = this.addModule('norm2', new LayerNorm(d));
    this.linear1 = this.addModule('linear1', new Linear(rng, d, dFfn));
    this.dropout3 = this.addModule('dropout3', new Dropout(dropout, noise));
    this.linear2 = this.addModule('linear2', new Linear(rng, dFfn, d));
    this.dropout4 = this.addModule('dropout4', new Dropout(dropout, noise));
    this.norm3 = this.addModule('norm3', new LayerNorm(d));
  }

  forward(
    tgt: tf.Tensor,
    queryPos: tf.Tensor,
    referencePoints: tf.Tensor,
    memory: tf.Tensor,
    levels: Levels,
  ): tf.Tensor {
    return tf.tidy(() => {
      const q = tf.add(tgt, queryPos);
      let x = this.norm2.forward(tf.add(tgt, this.dropout2.forward(this.selfAttn.forward(q, q, tgt))));
      const cross = this.crossAttn.forward(
        tf.add(x, queryPos),
        referencePoints,
        memory,
        levels.shapes,
        levels.starts,
        levels.paddingMask,
      );
      x = this.norm1.forward(tf.add(x, this.dropout1.forward(cross)));
      const ffn = this.linear2.forward(this.dropout3.forward(tf.relu(this.linear1.forward(x))));
      return this.norm3.forward(tf.add(x, this.dropout4.forward(ffn)));
    });
  }
}

export class DeformableEncoder extends Module {
  readonly layers: DeformableEncoderLayer[];
  constructor(layers: DeformableEncoderLayer[]) {
    super();
    const holder = this.addModule('layers', new ModuleList());
    this.layers = layers.map((layer, i) => holder.add(String(i), layer));
  }

  forward(src: tf.Tensor, pos: tf.Tensor, referencePoints: tf.Tensor, levels: Levels): tf.Tensor {
    return tf.tidy(() => this.layers.reduce((x, layer) => layer.forward(x, pos, referencePoints, levels), src));
  }
}

/**
 * DeformableTransformerDecoder. With `bboxEmbed` (iterative box refinement) each layer refines the previous
 * layer's reference boxes in inverse-sigmoid space, and the refined boxes are detached before the next layer.
 * Returns every layer's output and the reference points each layer's prediction is relative to.
 */
export class DeformableDecoder extends Module {
  readonly layers: DeformableDecoderLayer[];
  bboxEmbed: MLP[] | null = null;

  constructor(layers: DeformableDecoderLayer[]) {
    super();
    const holder = this.addModule('layers', new ModuleList());
    this.layers = layers.map((layer, i) => holder.add(String(i), layer));
  }

  /** Shares the model's box heads (and, two-stage, class heads) under this module's names, as upstream. */
  shareHeads(name: 'bbox_embed' | 'class_embed', heads: ModuleList): void {
    this.addModule(name, heads);
  }

  forward(
    tgt: tf.Tensor,
    referencePoints: tf.Tensor,
    memory: tf.Tensor,
    validRatios: tf.Tensor,
    queryPos: tf.Tensor,
    levels: Levels,
  ): { hs: tf.Tensor[]; references: tf.Tensor[] } {
    return tf.tidy(() => {
      const hs: tf.Tensor[] = [];
      const references: tf.Tensor[] = [];
      let output = tgt;
      let reference = referencePoints;
      const boxRatios = tf.concat([validRatios, validRatios], -1);
      this.layers.forEach((layer, lid) => {
        // Points (2) become boxes (4) after the first refinement.
        const box = reference.shape[2] === 4;
        // [N, Q, 1, 2|4] references times [N, 1, L, 2|4] valid ratios -> [N, Q, L, 2|4].
        const ratios = tf.expandDims(box ? boxRatios : validRatios, 1);
        const input = tf.mul(tf.expandDims(reference, 2), ratios);
        output = layer.forward(output, queryPos, input, memory, levels);
        if (this.bboxEmbed) {
          const delta = this.bboxEmbed[lid].forward(output);
          const refined = box
            ? tf.sigmoid(tf.add(delta, inverseSigmoid(reference)))
            : tf.sigmoid(
                tf.concat(
                  [
                    tf.add(tf.slice(delta, [0, 0, 0], [-1, -1, 2]), inverseSigmoid(reference)),
                    tf.slice(delta, [0, 0, 2], [-1, -1, -1]),
                  ],
                  -1,
                ),
              );
          reference = stopGradient(refined);
        }
        hs.push(output);
        references.push(tf.clone(reference));
      });
      return { hs, references };
    });
  }
}

/** What DeformableTransformer.forward returns: upstream's (hs, init_reference, inter_references, enc_outputs_*). */
export interface TransformerOutputs {
  /** Every decoder layer's output [N, Q, d], first to last. */
  hs: tf.Tensor[];
  /** The decoder's initial reference points [N, Q, 2] (one-stage) or boxes [N, Q, 4] (two-stage). */
  initReference: tf.Tensor;
  /** The reference each layer refined its input to (the input again without refinement), first to last. */
  interReferences: tf.Tensor[];
  /** Two-stage: the encoder's proposal logits [N, S, C] and unactivated boxes [N, S, 4]. */
  encOutputsClass?: tf.Tensor;
  encOutputsCoordUnact?: tf.Tensor;
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
  /**
   * Two-stage: the detector's extra class and box heads that score the encoder's proposals (upstream reads
   * them as decoder.class_embed[num_layers] and decoder.bbox_embed[num_layers]); set by DeformableDETR.
   */
  proposalHeads: { classEmbed: Linear; bboxEmbed: MLP } | null = null;

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

  /**
   * srcs and posEmbeds: one [N, h, w, d] map per level; masks: each level's padding mask as Uint8Array
   * [N, h, w] (1 at padding); queryEmbed [Q, 2d] (one-stage only: query position and target halves).
   */
  forward(
    srcs: tf.Tensor[],
    masks: Uint8Array[],
    posEmbeds: tf.Tensor[],
    queryEmbed: tf.Tensor | null,
  ): TransformerOutputs {
    return tf.tidy(() => {
      const { hiddenDim: d, numFeatureLevels: L } = this.config;
      const n = srcs[0].shape[0];
      const shapes = srcs.map((s) => [s.shape[1], s.shape[2]] as [number, number]);
      const starts = shapes.map((_, i) => shapes.slice(0, i).reduce((s, [h, w]) => s + h * w, 0));
      const S = shapes.reduce((s, [h, w]) => s + h * w, 0);

      const flatSrc: tf.Tensor[] = [];
      const flatPos: tf.Tensor[] = [];
      const flatMask: tf.Tensor[] = [];
      srcs.forEach((src, l) => {
        const [h, w] = shapes[l];
        flatSrc.push(tf.reshape(src, [n, h * w, d]));
        flatPos.push(tf.add(tf.reshape(posEmbeds[l], [n, h * w, d]), tf.slice(this.levelEmbed, [l, 0], [1, d])));
        flatMask.push(tf.tensor2d(masks[l], [n, h * w], 'bool'));
      });
      const src = tf.concat(flatSrc, 1);
      const pos = tf.concat(flatPos, 1);
      const levels: Levels = { shapes, starts, paddingMask: tf.concat(flatMask, 1) };
      const ratios = validRatios(masks, shapes, n);
      const validRatiosT = tf.tensor3d(Float32Array.from(ratios), [n, L, 2]);
      const encoderRefs = tf.tensor4d(encoderReferencePoints(shapes, ratios, n), [n, S, L, 2]);
      const memory = this.encoder.forward(src, pos, encoderRefs, levels);

      let queryPos: tf.Tensor;
      let tgt: tf.Tensor;
      let reference: tf.Tensor;
      const out: Partial<TransformerOutputs> = {};
      if (this.config.twoStage) {
        const { logits, invalid } = encoderProposals(masks, shapes, n);
        const keep = tf.tensor3d(
          Float32Array.from(invalid, (v) => 1 - v),
          [n, S, 1],
        );
        const outputMemory = this.encOutputNorm!.forward(this.encOutput!.forward(tf.mul(memory, keep)));
        const heads = this.proposalHeads!;
        const encClass = heads.classEmbed.forward(outputMemory);
        const encCoordUnact = tf.add(heads.bboxEmbed.forward(outputMemory), tf.tensor3d(logits, [n, S, 4]));
        out.encOutputsClass = encClass;
        out.encOutputsCoordUnact = encCoordUnact;
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
        const posTransOut = this.posTransNorm!.forward(
          this.posTrans!.forward(proposalPosEmbed(topkCoordsUnact, d / 2)),
        );
        [queryPos, tgt] = tf.split(posTransOut, 2, 2);
      } else {
        const q = queryEmbed!.shape[0];
        const [qp, tg] = tf.split(queryEmbed!, 2, 1);
        queryPos = tf.broadcastTo(tf.expandDims(qp, 0), [n, q, d]);
        tgt = tf.broadcastTo(tf.expandDims(tg, 0), [n, q, d]);
        reference = tf.sigmoid(this.referencePoints!.forward(queryPos));
      }
      const { hs, references } = this.decoder.forward(tgt, reference, memory, validRatiosT, queryPos, levels);
      return { ...out, hs, initReference: reference, interReferences: references } as unknown as tf.TensorContainer;
    }) as unknown as TransformerOutputs;
  }
}

/** get_proposal_pos_embed: the sine embedding of proposals [N, K, 4] (logits) -> [N, K, 4 * d/2]. */
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

/** Indices of the k largest scores, largest first; ties keep the lower index first. */
function topIndices(scores: ArrayLike<number>, k: number): number[] {
  const idx = Array.from({ length: scores.length }, (_, i) => i);
  idx.sort((a, b) => scores[b] - scores[a] || a - b);
  return idx.slice(0, k);
}
