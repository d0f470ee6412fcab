import * as tf from '@tensorflow/tfjs-core';
import { Module, Rng, assertDivides, checkShapes, xavierUniform } from '@deformjs/core';
import { LayerNorm, Linear, ModuleList, NoiseSource, dropout } from './layers';

export interface AttentionOptions {
  /** [B, Lk] bool, true where the key is padding and must be ignored (key_padding_mask). */
  keyPaddingMask?: tf.Tensor | null;
  /** [Lq, Lk] additive float mask (attn_mask), -Infinity to forbid. */
  attnMask?: tf.Tensor | null;
}

/**
 * nn.MultiheadAttention, batch first ([B, L, E] where PyTorch takes [L, B, E]), with its state_dict names:
 * in_proj_weight [3E, E] and in_proj_bias [3E] (query, key, value stacked), out_proj.weight/bias.
 * Dropout on the attention weights in training mode.
 */
export class MultiheadAttention extends Module {
  readonly inProjWeight: tf.Variable;
  readonly inProjBias: tf.Variable;
  readonly outProj: Linear;
  readonly headDim: number;

  constructor(
    rng: Rng,
    readonly embedDim: number,
    readonly numHeads: number,
    readonly dropoutRate = 0,
    readonly noise = new NoiseSource(rng.fork()),
  ) {
    super();
    assertDivides('MultiheadAttention', 'numHeads', numHeads, embedDim, 'embedDim');
    this.headDim = embedDim / numHeads;
    this.inProjWeight = this.addParameter(
      'in_proj_weight',
      xavierUniform(rng, [embedDim, 3 * embedDim], embedDim, 3 * embedDim),
      'linear',
    );
    this.inProjBias = this.addParameter('in_proj_bias', tf.zeros([3 * embedDim]));
    this.outProj = this.addModule('out_proj', new Linear(rng, embedDim, embedDim));
    tf.tidy(() => this.outProj.bias!.assign(tf.zeros([embedDim])));
  }

  forward(query: tf.Tensor, key: tf.Tensor, value: tf.Tensor, options: AttentionOptions = {}): tf.Tensor {
    const E = this.embedDim;
    const { B, Lq, Lk } = checkShapes('MultiheadAttention', [
      { name: 'query', shape: query.shape, expected: ['B', 'Lq', E] },
      { name: 'key', shape: key.shape, expected: ['B', 'Lk', E] },
      { name: 'value', shape: value.shape, expected: ['B', 'Lk', E] },
    ]);
    if (options.keyPaddingMask)
      checkShapes('MultiheadAttention', [
        { name: 'keyPaddingMask', shape: options.keyPaddingMask.shape, expected: [B, Lk] },
      ]);
    if (options.attnMask)
      checkShapes('MultiheadAttention', [{ name: 'attnMask', shape: options.attnMask.shape, expected: [Lq, Lk] }]);
    const H = this.numHeads;
    const D = this.headDim;
    return tf.tidy(() => {
      const project = (x: tf.Tensor, part: number, L: number) => {
        const w = tf.slice(this.inProjWeight, [0, part * E], [E, E]);
        const b = tf.slice(this.inProjBias, [part * E], [E]);
        const y = tf.add(tf.matMul(tf.reshape(x, [-1, E]), w), b);
        return tf.transpose(tf.reshape(y, [B, L, H, D]), [0, 2, 1, 3]);
      };
      const q = tf.mul(project(query, 0, Lq), 1 / Math.sqrt(D));
      const k = project(key, 1, Lk);
      const v = project(value, 2, Lk);
      let scores = tf.matMul(q, k, false, true); // [B, H, Lq, Lk]
      if (options.attnMask) scores = tf.add(scores, options.attnMask);
      if (options.keyPaddingMask) {
        const padded = tf.reshape(tf.cast(options.keyPaddingMask, 'bool'), [B, 1, 1, Lk]);
        scores = tf.where(tf.broadcastTo(padded, scores.shape), tf.fill(scores.shape, -Infinity), scores);
      }
      const weights = dropout(tf.softmax(scores, -1), this.dropoutRate, this.training, this.noise.rng);
      const out = tf.reshape(tf.transpose(tf.matMul(weights, v), [0, 2, 1, 3]), [B, Lq, E]);
      return this.outProj.forward(out);
    });
  }
}

function withPos(x: tf.Tensor, pos: tf.Tensor | null | undefined): tf.Tensor {
  return pos ? tf.add(x, pos) : x;
}

export interface TransformerLayerOptions {
  dModel: number;
  nHead: number;
  dimFeedforward?: number;
  dropout?: number;
  seed?: number;
  /** The dropout generator, shared across a model's layers so checkpoints can save it (default: one per layer). */
  noise?: NoiseSource;
}

/**
 * DETR's post-norm TransformerEncoderLayer (= nn.TransformerEncoderLayer with position embeddings added to
 * queries and keys): x = norm1(x + attn(x+pos, x+pos, x)); x = norm2(x + linear2(relu(linear1(x)))).
 * Names: self_attn, linear1, linear2, norm1, norm2. Batch first.
 */
export class TransformerEncoderLayer extends Module {
  readonly selfAttn: MultiheadAttention;
  readonly linear1: Linear;
  readonly linear2: Linear;
  readonly norm1: LayerNorm;
  readonly norm2: LayerNorm;
  readonly dropoutRate: number;
  readonly noise: NoiseSource;

  constructor(options: TransformerLayerOptions) {
    super();
    const { dModel, nHead, dimFeedforward = 2048 } = options;
    this.dropoutRate = options.dropout ?? 0.1;
    const rng = new Rng(options.seed ?? 0);
    this.noise = options.noise ?? new NoiseSource(rng.fork());
    this.selfAttn = this.addModule(
      'self_attn',
      new MultiheadAttention(rng, dModel, nHead, this.dropoutRate, this.noise),
    );
    this.linear1 = this.addModule('linear1', new Linear(rng, dModel, dimFeedforward));
    this.linear2 = this.addModule('linear2', new Linear(rng, dimFeedforward, dModel));
    this.norm1 = this.addModule('norm1', new LayerNorm(dModel));
    this.norm2 = this.addModule('norm2', new LayerNorm(dModel));
  }

  forward(
    src: tf.Tensor,
    options: { pos?: tf.Tensor | null; keyPaddingMask?: tf.Tensor | null; attnMask?: tf.Tensor | null } = {},
  ): tf.Tensor {
    return tf.tidy(() => {
      const drop = (x: tf.Tensor) => dropout(x, this.dropoutRate, this.training, this.noise.rng);
      const q = withPos(src, options.pos);
      let x = this.norm1.forward(tf.add(src, drop(this.selfAttn.forward(q, q, src, options))));
      const ffn = this.linear2.forward(drop(tf.relu(this.linear1.forward(x))));
      x = this.norm2.forward(tf.add(x, drop(ffn)));
      return x;
    });
  }
}

/**
 * DETR's post-norm TransformerDecoderLayer (= nn.TransformerDecoderLayer plus query/key position
 * embeddings): self-attention over queries, cross-attention to memory, FFN, each followed by add & norm.
 * Names: self_attn, multihead_attn, linear1, linear2, norm1, norm2, norm3. Batch first.
 */
export class TransformerDecoderLayer extends Module {
  readonly selfAttn: MultiheadAttention;
  readonly multiheadAttn: MultiheadAttention;
  readonly linear1: Linear;
  readonly linear2: Linear;
  readonly norm1: LayerNorm;
  readonly norm2: LayerNorm;
  readonly norm3: LayerNorm;
  readonly dropoutRate: number;
  readonly noise: NoiseSource;

  constructor(options: TransformerLayerOptions) {
    super();
    const { dModel, nHead, dimFeedforward = 2048 } = options;
    this.dropoutRate = options.dropout ?? 0.1;
    const rng = new Rng(options.seed ?? 0);
    this.noise = options.noise ?? new NoiseSource(rng.fork());
    this.selfAttn = this.addModule(
      'self_attn',
      new MultiheadAttention(rng, dModel, nHead, this.dropoutRate, this.noise),
    );
    this.multiheadAttn = this.addModule(
      'multihead_attn',
      new MultiheadAttention(rng, dModel, nHead, this.dropoutRate, this.noise),
    );
    this.linear1 = this.addModule('linear1', new Linear(rng, dModel, dimFeedforward));
    this.linear2 = this.addModule('linear2', new Linear(rng, dimFeedforward, dModel));
    this.norm1 = this.addModule('norm1', new LayerNorm(dModel));
    this.norm2 = this.addModule('norm2', new LayerNorm(dModel));
    this.norm3 = this.addModule('norm3', new LayerNorm(dModel));
  }

  forward(
    tgt: tf.Tensor,
    memory: tf.Tensor,
    options: {
      pos?: tf.Tensor | null;
      queryPos?: tf.Tensor | null;
      memoryKeyPaddingMask?: tf.Tensor | null;
      tgtKeyPaddingMask?: tf.Tensor | null;
      tgtMask?: tf.Tensor | null;
    } = {},
  ): tf.Tensor {
    return tf.tidy(() => {
      const drop = (x: tf.Tensor) => dropout(x, this.dropoutRate, this.training, this.noise.rng);
      const q = withPos(tgt, options.queryPos);
      let x = this.norm1.forward(
        tf.add(
          tgt,
          drop(
            this.selfAttn.forward(q, q, tgt, { keyPaddingMask: options.tgtKeyPaddingMask, attnMask: options.tgtMask }),
          ),
        ),
      );
      const cross = this.multiheadAttn.forward(withPos(x, options.queryPos), withPos(memory, options.pos), memory, {
        keyPaddingMask: options.memoryKeyPaddingMask,
      });
      x = this.norm2.forward(tf.add(x, drop(cross)));
      const ffn = this.linear2.forward(drop(tf.relu(this.linear1.forward(x))));
      return this.norm3.forward(tf.add(x, drop(ffn)));
    });
  }
}

/** DETR's MLP: `numLayers` Linear layers (names layers.0, layers.1, ...) with ReLU between them. */
export class MLP extends Module {
  readonly layers: Linear[];
  constructor(rng: Rng, inputDim: number, hiddenDim: number, outputDim: number, numLayers: number) {
    super();
    const dims = [inputDim, ...new Array<number>(numLayers - 1).fill(hiddenDim), outputDim];
    const holder = this.addModule('layers', new ModuleList());
    this.layers = dims.slice(0, -1).map((d, i) => holder.add(String(i), new Linear(rng, d, dims[i + 1])));
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() =>
      this.layers.reduce(
        (h, layer, i) => (i < this.layers.length - 1 ? tf.relu(layer.forward(h)) : layer.forward(h)),
        x,
      ),
    );
  }
}

export interface SineEmbeddingOptions {
  /** Channels per axis (DETR: d_model / 2 = 128); the output has 2 x numPosFeats channels (y first, then x). */
  numPosFeats?: number;
  temperature?: number;
  normalize?: boolean;
  /** Scale of normalised positions (default 2*pi). */
  scale?: number;
  /** Added to the cumulative position before normalising: 0 in DETR, -0.5 in Deformable DETR. */
  offset?: number;
}

/**
 * DETR's PositionEmbeddingSine on NHWC: from `mask` [B, H, W] (bool, true at padding) to [B, H, W, 2F]
 * position embeddings, y channels first, each as interleaved sin/cos of position / temperature^(2i/F).
 */
export function positionEmbeddingSine(mask: tf.Tensor, options: SineEmbeddingOptions = {}): tf.Tensor {
  const { numPosFeats = 64, temperature = 10000, normalize = false, scale = 2 * Math.PI, offset = 0 } = options;
  checkShapes('positionEmbeddingSine', [{ name: 'mask', shape: mask.shape, expected: [null, null, null] }]);
  return tf.tidy(() => {
    const notMask = tf.sub(1, tf.cast(mask, 'float32'));
    let y = tf.cumsum(notMask, 1);
    let x = tf.cumsum(notMask, 2);
    if (normalize) {
      const [, H, W] = mask.shape;
      y = tf.mul(tf.div(tf.add(y, offset), tf.add(tf.slice(y, [0, H - 1, 0], [-1, 1, -1]), 1e-6)), scale);
      x = tf.mul(tf.div(tf.add(x, offset), tf.add(tf.slice(x, [0, 0, W - 1], [-1, -1, 1]), 1e-6)), scale);
    }
    const dimT = Float32Array.from(
      { length: numPosFeats },
      (_, i) => temperature ** ((2 * Math.floor(i / 2)) / numPosFeats),
    );
    const even = tf.tensor(
      Array.from({ length: numPosFeats }, (_, i) => i % 2 === 0),
      [numPosFeats],
      'bool',
    );
    const embed = (e: tf.Tensor) => {
      const p = tf.div(tf.expandDims(e, -1), tf.tensor(dimT));
      return tf.where(tf.broadcastTo(even, p.shape), tf.sin(p), tf.cos(p));
    };
    return tf.concat([embed(y), embed(x)], -1);
  });
}
