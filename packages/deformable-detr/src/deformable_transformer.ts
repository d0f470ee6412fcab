import * as tf from '@tensorflow/tfjs-core';
import { Module, Rng } from '@deformjs/core';
import { MSDeformAttn } from '@deformjs/msda';
import { Dropout, LayerNorm, Linear, MLP, ModuleList, MultiheadAttention, NoiseSource } from '@deformjs/nn';

/** Multi-scale geometry shared by every layer of one forward pass. */
export interface Levels {
  /** (H, W) per level. */
  shapes: [number, number][];
  starts: number[];
  /** [N, S] bool, true at padding. */
  paddingMask: tf.Tensor;
}

/** x.detach(): the value, with no gradient flowing back (iterative refinement detaches between layers). */
export const detach = tf.customGrad(((x: tf.Tensor) => ({
  value: tf.clone(x),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
})) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor) => tf.Tensor;

/** inverse_sigmoid(x, eps=1e-5) = log(x / (1 - x)) with x clamped to [0, 1] and both terms to >= eps. */
export function inverseSigmoid(x: tf.Tensor, eps = 1e-5): tf.Tensor {
  return tf.tidy(() => {
    const c = tf.clipByValue(x, 0, 1);
    return tf.log(tf.div(tf.maximum(c, eps), tf.maximum(tf.sub(1, c), eps)));
  });
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
    const hs: tf.Tensor[] = [];
    const references: tf.Tensor[] = [];
    tf.tidy(() => {
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
          reference = detach(refined);
        }
        hs.push(tf.keep(output));
        references.push(tf.keep(tf.clone(reference)));
      });
    });
    return { hs, references };
  }
}
