/**
 * The sequence side of the attention study (arXiv 1904.05873) at toy scale: a task generated in-process, a small
 * encoder-decoder Transformer whose three attention placements each take an E1..E4 attention type, and its
 * training loop. Read top to bottom: task, model, training, evaluation. scripts/sequence_study.ts runs it.
 *
 * The task, a toy translation where both content and position matter: a source sentence of nouns (tokens 0-15)
 * each preceded by zero, one or two adjectives (16-31) is translated word by word through a fixed vocabulary
 * permutation, and every noun moves in front of its adjectives, which follow in reverse order (English "big red
 * car" -> "car red big"). Which source word target position t copies depends on the words around it, not on t
 * alone.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Module, Rng } from '@deformjs/core';
import { AdamW, Embedding, LayerNorm, Linear, MLP, ModuleList, optimizationStep } from '@deformjs/nn';
import { SequenceGeneralizedAttention } from '../src/index';

// ---------------------------------------------------------------------------------------------------- task

export const NOUNS = 16;
export const VOCAB = 32; // nouns then adjectives
export const BOS = VOCAB; // the decoder's start token (target vocabulary + 1)

/** The target word of source word w: a fixed permutation of the vocabulary. */
export function translateWord(word: number): number {
  return (5 * word + 3) % VOCAB;
}

export interface Pairs {
  source: Int32Array; // [count * length]
  target: Int32Array; // [count * length]
}

/** `count` random sentences of exactly `length` words and their translations. */
export function makePairs(rng: Rng, count: number, length: number): Pairs {
  const source = new Int32Array(count * length);
  const target = new Int32Array(count * length);
  for (let s = 0; s < count; s++) {
    const at = s * length;
    let i = 0;
    while (i < length) {
      const draw = rng.uniform();
      const adjectives = Math.min(draw < 0.4 ? 0 : draw < 0.75 ? 1 : 2, length - i - 1);
      for (let a = 0; a < adjectives; a++) source[at + i + a] = NOUNS + rng.int(VOCAB - NOUNS);
      const noun = rng.int(NOUNS);
      source[at + i + adjectives] = noun;
      // Target: the noun, then its adjectives from the last to the first.
      target[at + i] = translateWord(noun);
      for (let a = 0; a < adjectives; a++) target[at + i + 1 + a] = translateWord(source[at + i + adjectives - 1 - a]);
      i += adjectives + 1;
    }
  }
  return { source, target };
}

// --------------------------------------------------------------------------------------------------- model

export interface TranslationConfig {
  /** Attention types of the three placements. */
  encoderSelf: string;
  encoderDecoder: string;
  decoderSelf: string;
  width: number;
  heads: number;
  layers: number; // encoder layers = decoder layers
  feedforward: number;
  /** Add the Transformer's absolute sinusoidal position embedding to the token embeddings. */
  absolutePositions: boolean;
}

export const DEFAULT_MODEL: TranslationConfig = {
  encoderSelf: '1111',
  encoderDecoder: '1111',
  decoderSelf: '1111',
  width: 64,
  heads: 4,
  layers: 2,
  feedforward: 128,
  absolutePositions: true,
};

/** Pre-norm encoder layer: x + self_attn(ln(x)), then x + ffn(ln(x)). */
class EncoderLayer extends Module {
  readonly norm1: LayerNorm;
  readonly selfAttn: SequenceGeneralizedAttention;
  readonly norm2: LayerNorm;
  readonly ffn: MLP;
  constructor(rng: Rng, c: TranslationConfig) {
    super();
    this.norm1 = this.addModule('norm1', new LayerNorm(c.width));
    this.selfAttn = this.addModule('self_attn', attention(rng, c, c.encoderSelf));
    this.norm2 = this.addModule('norm2', new LayerNorm(c.width));
    this.ffn = this.addModule('ffn', new MLP(rng, c.width, c.feedforward, c.width, 2));
  }
  forward(x: tf.Tensor): tf.Tensor {
    const h = this.norm1.forward(x);
    x = tf.add(x, this.selfAttn.forward(h, h));
    return tf.add(x, this.ffn.forward(this.norm2.forward(x)));
  }
}

/** Pre-norm decoder layer: causal self-attention, attention to the encoder's output, feed-forward. */
class DecoderLayer extends Module {
  readonly norm1: LayerNorm;
  readonly selfAttn: SequenceGeneralizedAttention;
  readonly norm2: LayerNorm;
  readonly crossAttn: SequenceGeneralizedAttention;
  readonly norm3: LayerNorm;
  readonly ffn: MLP;
  constructor(rng: Rng, c: TranslationConfig) {
    super();
    this.norm1 = this.addModule('norm1', new LayerNorm(c.width));
    this.selfAttn = this.addModule('self_attn', attention(rng, c, c.decoderSelf));
    this.norm2 = this.addModule('norm2', new LayerNorm(c.width));
    this.crossAttn = this.addModule('cross_attn', attention(rng, c, c.encoderDecoder));
    this.norm3 = this.addModule('norm3', new LayerNorm(c.width));
    this.ffn = this.addModule('ffn', new MLP(rng, c.width, c.feedforward, c.width, 2));
  }
  forward(x: tf.Tensor, memory: tf.Tensor): tf.Tensor {
    const h = this.norm1.forward(x);
    x = tf.add(x, this.selfAttn.forward(h, h, { causal: true }));
    x = tf.add(x, this.crossAttn.forward(this.norm2.forward(x), memory));
    return tf.add(x, this.ffn.forward(this.norm3.forward(x)));
  }
}

function attention(rng: Rng, c: TranslationConfig, attentionType: string): SequenceGeneralizedAttention {
  return new SequenceGeneralizedAttention({ embedDim: c.width, numHeads: c.heads, attentionType, rng });
}

/** The Transformer's absolute position embedding [length, width]: sin and cos of pos / 10000^(2i / width). */
function absolutePositionEmbedding(length: number, width: number): tf.Tensor2D {
  const out = new Float32Array(length * width);
  for (let pos = 0; pos < length; pos++)
    for (let i = 0; i < width / 2; i++) {
      const angle = pos / 10000 ** ((2 * i) / width);
      out[pos * width + 2 * i] = Math.sin(angle);
      out[pos * width + 2 * i + 1] = Math.cos(angle);
    }
  return tf.tensor2d(out, [length, width]);
}

export class TranslationTransformer extends Module {
  readonly sourceEmbedding: Embedding;
  readonly targetEmbedding: Embedding;
  readonly encoder: EncoderLayer[];
  readonly decoder: DecoderLayer[];
  readonly encoderNorm: LayerNorm;
  readonly decoderNorm: LayerNorm;
  readonly head: Linear;

  constructor(
    readonly config: TranslationConfig,
    seed: number,
  ) {
    super();
    const rng = new Rng(seed);
    const c = config;
    // Embeddings at std 1 / sqrt(width), so the position embedding (entries of size 1) is not drowned out.
    this.sourceEmbedding = this.addModule('source_embedding', new Embedding(rng, VOCAB, c.width));
    this.targetEmbedding = this.addModule('target_embedding', new Embedding(rng, VOCAB + 1, c.width));
    const encoders = this.addModule('encoder', new ModuleList());
    this.encoder = Array.from({ length: c.layers }, (_, i) => encoders.add(String(i), new EncoderLayer(rng, c)));
    const decoders = this.addModule('decoder', new ModuleList());
    this.decoder = Array.from({ length: c.layers }, (_, i) => decoders.add(String(i), new DecoderLayer(rng, c)));
    this.encoderNorm = this.addModule('encoder_norm', new LayerNorm(c.width));
    this.decoderNorm = this.addModule('decoder_norm', new LayerNorm(c.width));
    this.head = this.addModule('head', new Linear(rng, c.width, VOCAB));
  }

  /** source [B, Ls] and decoder input [B, Lt] token ids -> logits [B, Lt, VOCAB]. */
  forward(source: tf.Tensor2D, decoderInput: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => this.decode(this.encode(source), decoderInput));
  }

  encode(source: tf.Tensor2D): tf.Tensor {
    return tf.tidy(() => {
      let x = this.embed(this.sourceEmbedding, source);
      for (const layer of this.encoder) x = layer.forward(x);
      return this.encoderNorm.forward(x);
    });
  }

  /** The encoder's output [B, Ls, width] and decoder input [B, Lt] -> logits [B, Lt, VOCAB]. */
  decode(memory: tf.Tensor, decoderInput: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => {
      let x = this.embed(this.targetEmbedding, decoderInput);
      for (const layer of this.decoder) x = layer.forward(x, memory);
      return this.head.forward(this.decoderNorm.forward(x)) as tf.Tensor3D;
    });
  }

  private embed(embedding: Embedding, ids: tf.Tensor2D): tf.Tensor {
    const x = tf.mul(embedding.forward(ids), 1 / Math.sqrt(this.config.width));
    if (!this.config.absolutePositions) return x;
    return tf.add(x, absolutePositionEmbedding(ids.shape[1], this.config.width));
  }

  /** Every attention module with its placement, for the cost count. */
  attentions(): {
    placement: 'encoderSelf' | 'encoderDecoder' | 'decoderSelf';
    module: SequenceGeneralizedAttention;
  }[] {
    return [
      ...this.encoder.map((l) => ({ placement: 'encoderSelf' as const, module: l.selfAttn })),
      ...this.decoder.map((l) => ({ placement: 'decoderSelf' as const, module: l.selfAttn })),
      ...this.decoder.map((l) => ({ placement: 'encoderDecoder' as const, module: l.crossAttn })),
    ];
  }
}

// ------------------------------------------------------------------------------------------------ training

/** The decoder's input under teacher forcing: BOS, then the target shifted right by one. */
export function shiftRight(target: Int32Array, count: number, length: number): Int32Array {
  const out = new Int32Array(count * length);
  for (let s = 0; s < count; s++) {
    out[s * length] = BOS;
    out.set(target.subarray(s * length, (s + 1) * length - 1), s * length + 1);
  }
  return out;
}

export function crossEntropy(logits: tf.Tensor3D, target: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const logProbs = tf.logSoftmax(logits);
    const picked = tf.sum(tf.mul(logProbs, tf.oneHot(target, VOCAB)), -1);
    return tf.neg(tf.mean(picked)) as tf.Scalar;
  });
}

export interface TrainOptions {
  steps: number;
  batch: number;
  length: number;
  lr: number;
  seed: number;
  /** Teacher-forced validation accuracy every this many steps (0: never). */
  evalEvery: number;
  /** Called after every step with the step and the loss (progress bars). */
  onStep?: (step: number, loss: number) => void;
}

/** The fixed validation set, the same for every run: generated from its own seed. */
export function validationPairs(length: number, count = 256): Pairs {
  return makePairs(new Rng(123456), count, length);
}

export interface TrainResult {
  loss: [number, number][];
  /** Teacher-forced validation token accuracy during training. */
  curve: [number, number][];
  secondsTraining: number;
  cpuSecondsTraining: number;
  final: GreedyScore;
}

export function train(model: TranslationTransformer, o: TrainOptions): TrainResult {
  const data = new Rng(o.seed).fork(); // training sentences: a stream of their own, from the run's seed
  const optimizer = new AdamW(model.trainableVariables(), { lr: o.lr, weightDecay: 0 });
  const validation = validationPairs(o.length);
  const loss: [number, number][] = [];
  const curve: [number, number][] = [];
  const wall = performance.now();
  const cpu = process.cpuUsage();
  for (let step = 1; step <= o.steps; step++) {
    const { source, target } = makePairs(data, o.batch, o.length);
    const src = tf.tensor2d(source, [o.batch, o.length], 'int32');
    const tgt = tf.tensor2d(target, [o.batch, o.length], 'int32');
    const input = tf.tensor2d(shiftRight(target, o.batch, o.length), [o.batch, o.length], 'int32');
    const result = optimizationStep(
      () => {
        const l = crossEntropy(model.forward(src, input), tgt);
        return { loss: l, components: {} };
      },
      model.trainableVariables(),
      optimizer,
      1,
    );
    tf.dispose([src, tgt, input]);
    loss.push([step, result.loss]);
    o.onStep?.(step, result.loss);
    if (o.evalEvery > 0 && (step % o.evalEvery === 0 || step === o.steps)) {
      curve.push([step, teacherForcedAccuracy(model, validation, o.length)]);
    }
  }
  const used = process.cpuUsage(cpu);
  const secondsTraining = (performance.now() - wall) / 1000;
  const cpuSecondsTraining = (used.user + used.system) / 1e6;
  optimizer.dispose();
  return { loss, curve, secondsTraining, cpuSecondsTraining, final: greedyScore(model, validation, o.length) };
}

// ---------------------------------------------------------------------------------------------- evaluation

/** Token accuracy when the decoder reads the true previous target tokens. */
export function teacherForcedAccuracy(model: TranslationTransformer, pairs: Pairs, length: number): number {
  const count = pairs.source.length / length;
  return tf.tidy(() => {
    const logits = model.forward(
      tf.tensor2d(pairs.source, [count, length], 'int32'),
      tf.tensor2d(shiftRight(pairs.target, count, length), [count, length], 'int32'),
    );
    const correct = tf.equal(tf.argMax(logits, -1), tf.tensor2d(pairs.target, [count, length], 'int32'));
    return tf.mean(tf.cast(correct, 'float32')).dataSync()[0];
  });
}

export interface GreedyScore {
  /** Share of target tokens right when the decoder reads its own previous outputs. */
  tokenAccuracy: number;
  /** Share of sentences translated without a single wrong token. */
  sentenceAccuracy: number;
}

/** Greedy decoding: the decoder runs once per target position on its own outputs so far. */
export function greedyDecode(model: TranslationTransformer, source: Int32Array, length: number): Int32Array {
  const count = source.length / length;
  const out = new Int32Array(count * length);
  const memory = tf.tidy(() => model.encode(tf.tensor2d(source, [count, length], 'int32')));
  const input = new Int32Array(count * length).fill(BOS);
  for (let t = 0; t < length; t++) {
    const next = tf.tidy(() => {
      const prefix = tf.slice(tf.tensor2d(input, [count, length], 'int32'), [0, 0], [count, t + 1]) as tf.Tensor2D;
      const logits = tf.slice(model.decode(memory, prefix), [0, t, 0], [count, 1, -1]);
      return tf.reshape(tf.argMax(logits, -1), [count]).dataSync();
    });
    for (let s = 0; s < count; s++) {
      out[s * length + t] = next[s];
      if (t + 1 < length) input[s * length + t + 1] = next[s];
    }
  }
  memory.dispose();
  return out;
}

export function greedyScore(model: TranslationTransformer, pairs: Pairs, length: number): GreedyScore {
  const decoded = greedyDecode(model, pairs.source, length);
  const count = pairs.source.length / length;
  let tokens = 0;
  let sentences = 0;
  for (let s = 0; s < count; s++) {
    let all = true;
    for (let t = 0; t < length; t++) {
      const right = decoded[s * length + t] === pairs.target[s * length + t];
      tokens += right ? 1 : 0;
      all &&= right;
    }
    sentences += all ? 1 : 0;
  }
  return { tokenAccuracy: tokens / (count * length), sentenceAccuracy: sentences / count };
}
