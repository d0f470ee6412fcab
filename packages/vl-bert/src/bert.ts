import * as tf from '@tensorflow/tfjs-core';
import { argumentError, assertDivides, assertInteger, checkShapes, Linear, Module, Rng } from '@deformjs/core';
import { Dropout, Embedding, LayerNorm, ModuleList, NoiseSource } from '@deformjs/nn';

/** Hugging Face's BertConfig fields (bert-base-uncased: 30522, 768, 12, 12, 3072, 512, 2). */
export interface BertConfig {
  vocabSize: number;
  hiddenSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  intermediateSize: number;
  maxPositionEmbeddings: number;
  typeVocabSize: number;
  /** 1e-12 in BERT (nn's transformer layers use PyTorch's 1e-5). */
  layerNormEps?: number;
  hiddenDropoutProb?: number;
  attentionProbsDropoutProb?: number;
  /** Truncated-normal std of BERT's init (0.02). */
  initializerRange?: number;
  seed?: number;
}

export const BERT_BASE_UNCASED: BertConfig = {
  vocabSize: 30522,
  hiddenSize: 768,
  numHiddenLayers: 12,
  numAttentionHeads: 12,
  intermediateSize: 3072,
  maxPositionEmbeddings: 512,
  typeVocabSize: 2,
};

/** GELU in the exact erf form that BERT's 'gelu' activation is (not the tanh approximation). */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))));
}

/** BERT's init: weights N(0, 0.02) (truncated at 2 std), biases zero, norms one/zero. */
function bertLinear(rng: Rng, inFeatures: number, outFeatures: number, std: number): Linear {
  return new Linear(rng, inFeatures, outFeatures, {
    init: {
      weight: tf.tidy(() => tf.clipByValue(rng.normalTensor([inFeatures, outFeatures], 0, std), -2 * std, 2 * std)),
    },
  });
}

/** nn's Embedding (a gather whose gradient is a segment sum on every backend) with BERT's N(0, std) init. */
function bertEmbedding(rng: Rng, num: number, dim: number, std: number): Embedding {
  const embedding = new Embedding(rng, num, dim);
  tf.tidy(() => embedding.weight.assign(tf.mul(embedding.weight, std)));
  return embedding;
}

/** The resolved config every BERT module reads (defaults filled in). */
export type ResolvedBertConfig = Required<BertConfig>;

export function resolveBertConfig(op: string, config: BertConfig): ResolvedBertConfig {
  const resolved: ResolvedBertConfig = {
    layerNormEps: 1e-12,
    hiddenDropoutProb: 0.1,
    attentionProbsDropoutProb: 0.1,
    initializerRange: 0.02,
    seed: 0,
    ...config,
  };
  for (const name of [
    'vocabSize',
    'hiddenSize',
    'numHiddenLayers',
    'numAttentionHeads',
    'intermediateSize',
    'maxPositionEmbeddings',
    'typeVocabSize',
  ] as const) {
    assertInteger(op, `config.${name}`, resolved[name], 1);
  }
  assertDivides(op, 'config.numAttentionHeads', resolved.numAttentionHeads, resolved.hiddenSize, 'config.hiddenSize');
  return resolved;
}

/** word + position + token type embeddings, LayerNorm, dropout (BertEmbeddings). */
export class BertEmbeddings extends Module {
  readonly word_embeddings: Embedding;
  readonly position_embeddings: Embedding;
  readonly token_type_embeddings: Embedding;
  readonly LayerNorm: LayerNorm;
  readonly dropout: Dropout;

  constructor(rng: Rng, noise: NoiseSource, c: ResolvedBertConfig) {
    super();
    const std = c.initializerRange;
    this.word_embeddings = this.addModule('word_embeddings', bertEmbedding(rng, c.vocabSize, c.hiddenSize, std));
    this.position_embeddings = this.addModule(
      'position_embeddings',
      bertEmbedding(rng, c.maxPositionEmbeddings, c.hiddenSize, std),
    );
    this.token_type_embeddings = this.addModule(
      'token_type_embeddings',
      bertEmbedding(rng, c.typeVocabSize, c.hiddenSize, std),
    );
    this.LayerNorm = this.addModule('LayerNorm', new LayerNorm(c.hiddenSize, c.layerNormEps));
    this.dropout = this.addModule('dropout', new Dropout(c.hiddenDropoutProb, noise));
  }

  /**
   * Sums the word, position and token-type embeddings plus `extra` (VL-BERT's visual feature embedding),
   * then LayerNorm and dropout. ids [B, L]; positionIds default 0..L-1.
   */
  forward(inputIds: tf.Tensor, tokenTypeIds: tf.Tensor, positionIds?: tf.Tensor, extra?: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const positions = positionIds ?? tf.range(0, inputIds.shape[1]!, 1, 'int32');
      let x = tf.add(
        tf.add(this.word_embeddings.forward(tf.cast(inputIds, 'int32')), this.position_embeddings.forward(positions)),
        this.token_type_embeddings.forward(tf.cast(tokenTypeIds, 'int32')),
      );
      if (extra) x = tf.add(x, extra);
      return this.dropout.forward(this.LayerNorm.forward(x));
    });
  }
}

/** Separate query, key and value projections (BertSelfAttention). */
export class BertSelfAttention extends Module {
  readonly query: Linear;
  readonly key: Linear;
  readonly value: Linear;
  readonly dropout: Dropout;
  private readonly heads: number;

  constructor(rng: Rng, noise: NoiseSource, c: ResolvedBertConfig) {
    super();
    const h = c.hiddenSize;
    this.heads = c.numAttentionHeads;
    this.query = this.addModule('query', bertLinear(rng, h, h, c.initializerRange));
    this.key = this.addModule('key', bertLinear(rng, h, h, c.initializerRange));
    this.value = this.addModule('value', bertLinear(rng, h, h, c.initializerRange));
    this.dropout = this.addModule('dropout', new Dropout(c.attentionProbsDropoutProb, noise));
  }

  /** x [B, L, H]; additiveMask [B, 1, 1, L] (0 to attend, -10000 to ignore). */
  forward(x: tf.Tensor, additiveMask: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const [B, L, H] = x.shape;
      const d = H / this.heads;
      const split = (t: tf.Tensor) => tf.transpose(tf.reshape(t, [B, L, this.heads, d]), [0, 2, 1, 3]);
      const q = split(this.query.forward(x));
      const k = split(this.key.forward(x));
      const v = split(this.value.forward(x));
      const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(d)), additiveMask);
      const context = tf.matMul(this.dropout.forward(tf.softmax(scores)), v);
      return tf.reshape(tf.transpose(context, [0, 2, 1, 3]), [B, L, H]);
    });
  }
}

/** dense, dropout, residual, LayerNorm: BertSelfOutput and BertOutput (post-norm). */
export class BertResidualOutput extends Module {
  readonly dense: Linear;
  readonly LayerNorm: LayerNorm;
  readonly dropout: Dropout;

  constructor(rng: Rng, noise: NoiseSource, c: ResolvedBertConfig, inFeatures: number) {
    super();
    this.dense = this.addModule('dense', bertLinear(rng, inFeatures, c.hiddenSize, c.initializerRange));
    this.LayerNorm = this.addModule('LayerNorm', new LayerNorm(c.hiddenSize, c.layerNormEps));
    this.dropout = this.addModule('dropout', new Dropout(c.hiddenDropoutProb, noise));
  }

  forward(hidden: tf.Tensor, residual: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.LayerNorm.forward(tf.add(this.dropout.forward(this.dense.forward(hidden)), residual)));
  }
}

class BertAttention extends Module {
  readonly self: BertSelfAttention;
  readonly output: BertResidualOutput;
  constructor(rng: Rng, noise: NoiseSource, c: ResolvedBertConfig) {
    super();
    this.self = this.addModule('self', new BertSelfAttention(rng, noise, c));
    this.output = this.addModule('output', new BertResidualOutput(rng, noise, c, c.hiddenSize));
  }
  forward(x: tf.Tensor, additiveMask: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.output.forward(this.self.forward(x, additiveMask), x));
  }
}

class BertIntermediate extends Module {
  readonly dense: Linear;
  constructor(rng: Rng, c: ResolvedBertConfig) {
    super();
    this.dense = this.addModule('dense', bertLinear(rng, c.hiddenSize, c.intermediateSize, c.initializerRange));
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => gelu(this.dense.forward(x)));
  }
}

/** One post-norm encoder layer (BertLayer): attention block, then GELU feed-forward block. */
export class BertLayer extends Module {
  readonly attention: BertAttention;
  readonly intermediate: BertIntermediate;
  readonly output: BertResidualOutput;
  constructor(rng: Rng, noise: NoiseSource, c: ResolvedBertConfig) {
    super();
    this.attention = this.addModule('attention', new BertAttention(rng, noise, c));
    this.intermediate = this.addModule('intermediate', new BertIntermediate(rng, c));
    this.output = this.addModule('output', new BertResidualOutput(rng, noise, c, c.intermediateSize));
  }
  forward(x: tf.Tensor, additiveMask: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const attended = this.attention.forward(x, additiveMask);
      return this.output.forward(this.intermediate.forward(attended), attended);
    });
  }
}

export class BertEncoder extends Module {
  readonly layer: ModuleList;
  readonly layers: BertLayer[];
  constructor(rng: Rng, noise: NoiseSource, c: ResolvedBertConfig) {
    super();
    this.layer = this.addModule('layer', new ModuleList());
    this.layers = Array.from({ length: c.numHiddenLayers }, (_, i) =>
      this.layer.add(String(i), new BertLayer(rng, noise, c)),
    );
  }

  /** Every hidden state: the input (embeddings) and each layer's output. */
  forward(x: tf.Tensor, attentionMask: tf.Tensor): tf.Tensor[] {
    return tf.tidy(() => {
      const [B, L] = attentionMask.shape;
      // HF BERT's extended mask: (1 - mask) * -10000, added to every head's scores.
      const additive = tf.reshape(tf.mul(tf.sub(1, tf.cast(attentionMask, 'float32')), -10000), [B, 1, 1, L]);
      const hidden = [x];
      for (const layer of this.layers) hidden.push(layer.forward(hidden[hidden.length - 1], additive));
      return hidden;
    });
  }
}

export class BertPooler extends Module {
  readonly dense: Linear;
  constructor(rng: Rng, c: ResolvedBertConfig) {
    super();
    this.dense = this.addModule('dense', bertLinear(rng, c.hiddenSize, c.hiddenSize, c.initializerRange));
  }
  /** tanh(dense(first token)). */
  forward(hidden: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const [B, , H] = hidden.shape;
      return tf.tanh(this.dense.forward(tf.reshape(tf.slice(hidden, [0, 0, 0], [B, 1, H]), [B, H])));
    });
  }
}

export type BertOutputs = {
  /** numHiddenLayers + 1 tensors [B, L, H]: the embeddings' output, then each layer's. */
  hiddenStates: tf.Tensor[];
  lastHiddenState: tf.Tensor;
  pooled: tf.Tensor;
};

/** BertModel: `embeddings.*`, `encoder.layer.N.*`, `pooler.dense.*` as in Hugging Face's state_dict. */
export class BertModel extends Module {
  readonly config: ResolvedBertConfig;
  readonly noise: NoiseSource;
  readonly embeddings: BertEmbeddings;
  readonly encoder: BertEncoder;
  readonly pooler: BertPooler;

  constructor(config: BertConfig, noise?: NoiseSource) {
    super();
    this.config = resolveBertConfig('BertModel', config);
    const rng = new Rng(this.config.seed);
    this.noise = noise ?? new NoiseSource(rng.fork());
    this.embeddings = this.addModule('embeddings', new BertEmbeddings(rng, this.noise, this.config));
    this.encoder = this.addModule('encoder', new BertEncoder(rng, this.noise, this.config));
    this.pooler = this.addModule('pooler', new BertPooler(rng, this.config));
  }

  /** inputIds, tokenTypeIds, attentionMask [B, L] (mask 1 attend, 0 padding). */
  forward(inputIds: tf.Tensor, tokenTypeIds: tf.Tensor, attentionMask: tf.Tensor): BertOutputs {
    const op = 'BertModel.forward';
    const { L } = checkShapes(op, [
      { name: 'inputIds', shape: inputIds.shape, expected: ['B', 'L'] },
      { name: 'tokenTypeIds', shape: tokenTypeIds.shape, expected: ['B', 'L'] },
      { name: 'attentionMask', shape: attentionMask.shape, expected: ['B', 'L'] },
    ]);
    if (L > this.config.maxPositionEmbeddings)
      throw argumentError(
        op,
        'inputIds',
        `at most maxPositionEmbeddings = ${this.config.maxPositionEmbeddings} tokens`,
        L,
      );
    return tf.tidy(() => this.encode(this.embeddings.forward(inputIds, tokenTypeIds), attentionMask));
  }

  /** Runs the encoder and pooler on given embeddings (VL-BERT builds its own). */
  encode(embeddings: tf.Tensor, attentionMask: tf.Tensor): BertOutputs {
    return tf.tidy(() => {
      const hiddenStates = this.encoder.forward(embeddings, attentionMask);
      const lastHiddenState = hiddenStates[hiddenStates.length - 1];
      return { hiddenStates, lastHiddenState, pooled: this.pooler.forward(lastHiddenState) };
    });
  }
}

/** BertPredictionHeadTransform: dense, GELU, LayerNorm. */
export class BertPredictionHeadTransform extends Module {
  readonly dense: Linear;
  readonly LayerNorm: LayerNorm;
  constructor(rng: Rng, c: ResolvedBertConfig) {
    super();
    this.dense = this.addModule('dense', bertLinear(rng, c.hiddenSize, c.hiddenSize, c.initializerRange));
    this.LayerNorm = this.addModule('LayerNorm', new LayerNorm(c.hiddenSize, c.layerNormEps));
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.LayerNorm.forward(gelu(this.dense.forward(x))));
  }
}

/**
 * The masked-language-model head (`cls.predictions.*`): transform, then the decoder tied to the word
 * embeddings plus its own bias. The tied `cls.predictions.decoder.weight` of a checkpoint is the word
 * embedding matrix again, so it is not a parameter here (ignore it when loading; see BERT_TIED_KEYS).
 */
export class BertLMPredictionHead extends Module {
  readonly transform: BertPredictionHeadTransform;
  readonly bias: tf.Variable;
  constructor(
    rng: Rng,
    c: ResolvedBertConfig,
    private readonly wordEmbeddings: Embedding,
  ) {
    super();
    this.transform = this.addModule('transform', new BertPredictionHeadTransform(rng, c));
    this.bias = this.addParameter('bias', tf.zeros([c.vocabSize]));
  }
  /** hidden [..., H] -> logits [..., vocab]. */
  forward(hidden: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const h = this.transform.forward(hidden);
      const flat = tf.reshape(h, [-1, h.shape[h.shape.length - 1]]) as tf.Tensor2D;
      const logits = tf.add(tf.matMul(flat, this.wordEmbeddings.weight, false, true), this.bias);
      return tf.reshape(logits, [...hidden.shape.slice(0, -1), this.wordEmbeddings.weight.shape[0]]);
    });
  }
}

/** Checkpoint keys with no parameter of their own here: the tied decoder and BERT's next-sentence head. */
export const BERT_TIED_KEYS: readonly RegExp[] = [
  /^cls\.predictions\.decoder\.(weight|bias)$/,
  /^cls\.seq_relationship\./,
  /position_ids$/,
];

/** `cls.*` of BertForPreTraining, minus the next-sentence head (VL-BERT's released configs drop it). */
export class BertPreTrainingHeads extends Module {
  readonly predictions: BertLMPredictionHead;
  constructor(rng: Rng, c: ResolvedBertConfig, wordEmbeddings: Embedding) {
    super();
    this.predictions = this.addModule('predictions', new BertLMPredictionHead(rng, c, wordEmbeddings));
  }
}

/** BertForMaskedLM-style pair `bert.*` + `cls.predictions.*`, loading bert-base-uncased checkpoints as they are. */
export class BertForMaskedLM extends Module {
  readonly bert: BertModel;
  readonly cls: BertPreTrainingHeads;
  constructor(config: BertConfig) {
    super();
    this.bert = this.addModule('bert', new BertModel(config));
    const rng = new Rng(this.bert.config.seed).fork();
    this.cls = this.addModule(
      'cls',
      new BertPreTrainingHeads(rng, this.bert.config, this.bert.embeddings.word_embeddings),
    );
  }
}
