import * as tf from '@tensorflow/tfjs-core';
import { Module, type Rng, argumentError, assertDivides, assertInteger, checkShapes, rngOption } from '@deformjs/core';
import type { Linear } from '@deformjs/core';
import { relativePositionEncoding } from './position';
import { type AttentionTerms, kaimingLinear, parseAttentionType, termBias } from './terms';

const OP = 'SequenceGeneralizedAttention';

export interface SequenceGeneralizedAttentionOptions {
  /** Width E of the query and key sequences (and of the output). */
  embedDim: number;
  /** Heads; each has embedDim / numHeads query, key and value dims. Default 8. */
  numHeads?: number;
  /** E1..E4 flags as in `GeneralizedAttention` ('1000' query and key content, ... '0001' relative position only). Default '1111'. */
  attentionType?: string;
  /** Width of the sinusoidal encoding of the relative position (an even number). Default embedDim. */
  positionEmbeddingDim?: number;
  /** Seeds the initialisation (a number or an Rng to draw from). */
  rng?: Rng | number;
}

export interface SequenceAttentionCall {
  /** Decoder self-attention: query i sees keys 0..i only (needs as many queries as keys). */
  causal?: boolean;
}

/**
 * Generalized attention (arXiv 1904.05873) over sequences, for the Transformer placements the paper studies:
 * encoder self-attention, encoder-decoder attention and (causal) decoder self-attention. Batch first: query
 * [B, Lq, E] attends to key [B, Lk, E], which also gives the values. The energy of query i and key j in head m
 * is the paper's (and Transformer-XL's) four terms, scaled by 1/sqrt(d):
 *   [E1] Q_i . K_j + [E2] Q_i . R_{i-j} + [E3] u . K_j + [E4] v . R_{i-j}
 * with Q = query_proj(query), K = key_proj(key), R_{i-j} = appr_geom_fc(enc(i - j)) the per-head projection of the
 * sinusoidal encoding of the offset (`relativePositionEncoding`, shared with the image form), u = appr_bias and
 * v = geom_bias. The query and key projections have no bias on purpose: a query bias b would add b . K_j, an E3
 * term, to '1000'. Softmax over the keys, the weighted sum of value_proj(key), then out_proj.
 */
export class SequenceGeneralizedAttention extends Module {
  readonly embedDim: number;
  readonly numHeads: number;
  readonly headDim: number;
  readonly positionEmbeddingDim: number;
  readonly terms: AttentionTerms;

  readonly apprBias: tf.Variable | null;
  readonly geomBias: tf.Variable | null;
  readonly queryProj: Linear | null;
  readonly keyProj: Linear | null;
  readonly valueProj: Linear;
  readonly apprGeomFc: Linear | null;
  readonly outProj: Linear;

  constructor(options: SequenceGeneralizedAttentionOptions) {
    super();
    this.embedDim = assertInteger(OP, 'embedDim', options.embedDim, 1);
    this.numHeads = assertInteger(OP, 'numHeads', options.numHeads ?? 8, 1);
    assertDivides(OP, 'numHeads', this.numHeads, this.embedDim, 'embedDim');
    this.headDim = this.embedDim / this.numHeads;
    this.terms = parseAttentionType(options.attentionType ?? '1111', OP);
    this.positionEmbeddingDim = assertInteger(
      OP,
      'positionEmbeddingDim',
      options.positionEmbeddingDim ?? this.embedDim,
      2,
    );
    if (this.positionEmbeddingDim % 2 !== 0) {
      throw argumentError(OP, 'positionEmbeddingDim', 'an even number (sines and cosines)', this.positionEmbeddingDim);
    }
    const [e1, e2, e3, e4] = this.terms;
    const rng = rngOption(OP, options.rng);
    const width = this.embedDim;
    this.apprBias = e3 ? this.addParameter('appr_bias', termBias(rng, this.numHeads, this.headDim)) : null;
    this.geomBias = e4 ? this.addParameter('geom_bias', termBias(rng, this.numHeads, this.headDim)) : null;
    this.queryProj = e1 || e2 ? this.addModule('query_proj', kaimingLinear(rng, width, width, false)) : null;
    this.keyProj = e1 || e3 ? this.addModule('key_proj', kaimingLinear(rng, width, width, false)) : null;
    this.valueProj = this.addModule('value_proj', kaimingLinear(rng, width, width, false));
    this.apprGeomFc =
      e2 || e4 ? this.addModule('appr_geom_fc', kaimingLinear(rng, this.positionEmbeddingDim, width, false)) : null;
    this.outProj = this.addModule('out_proj', kaimingLinear(rng, width, width, true));
  }

  /** query [B, Lq, E], key [B, Lk, E] (self-attention: the same tensor) -> [B, Lq, E]. */
  forward(query: tf.Tensor, key: tf.Tensor, call: SequenceAttentionCall = {}): tf.Tensor3D {
    return tf.tidy(() => {
      const weights = this.attentionWeights(query, key, call);
      const [b, lq] = query.shape;
      const value = this.toHeads(this.valueProj, key as tf.Tensor3D);
      const attended = tf.transpose(tf.matMul(weights, value), [0, 2, 1, 3]); // [B, Lq, H, d]
      const out = this.outProj.forward(tf.reshape(attended, [b * lq, this.embedDim]));
      return tf.reshape(out, [b, lq, this.embedDim]) as tf.Tensor3D;
    });
  }

  /** The softmax weights [B, heads, Lq, Lk]; with `causal`, 0 wherever the key comes after the query. */
  attentionWeights(query: tf.Tensor, key: tf.Tensor, call: SequenceAttentionCall = {}): tf.Tensor4D {
    const { B, Lq, Lk } = this.checkInputs(query, key, call);
    return tf.tidy(() => {
      const [e1, e2, e3, e4] = this.terms;
      const h = this.numHeads;
      const d = this.headDim;
      const q = this.queryProj ? this.toHeads(this.queryProj, query as tf.Tensor3D) : null; // [B, H, Lq, d]
      const k = this.keyProj ? this.toHeads(this.keyProj, key as tf.Tensor3D) : null; // [B, H, Lk, d]
      const perHead = (bias: tf.Variable) => tf.reshape(bias, [1, h, 1, d]);
      // Every term broadcasts to [B, H, Lq, Lk]; those that ignore the query or the batch keep a size-1 axis there.
      const terms: tf.Tensor[] = [];
      if (e1) terms.push(tf.matMul(e3 ? tf.add(q!, perHead(this.apprBias!)) : q!, k!, false, true));
      else if (e3) terms.push(tf.expandDims(tf.sum(tf.mul(k!, perHead(this.apprBias!)), -1), 2)); // [B, H, 1, Lk]
      if (e2 || e4) {
        const r = this.relativePositions(Lq, Lk); // [H, Lq, Lk, d]
        if (e2) {
          // Per (head, query) one product [B, d] x [d, Lk]: the position features differ for every query.
          const qr = e4 ? tf.add(q!, perHead(this.geomBias!)) : q!;
          const byQuery = tf.reshape(tf.transpose(qr, [1, 2, 0, 3]), [h * Lq, B, d]);
          const rT = tf.reshape(tf.transpose(r, [0, 1, 3, 2]), [h * Lq, d, Lk]);
          terms.push(tf.transpose(tf.reshape(tf.matMul(byQuery, rT), [h, Lq, B, Lk]), [2, 0, 1, 3]));
        } else {
          terms.push(tf.expandDims(tf.sum(tf.mul(r, tf.reshape(this.geomBias!, [h, 1, 1, d])), -1), 0)); // [1, H, Lq, Lk]
        }
      }
      let energy = tf.mul(
        terms.reduce((sum, t) => tf.add(sum, t)),
        1 / Math.sqrt(d),
      );
      if (call.causal) energy = tf.add(energy, tf.tensor2d(causalMaskBias(Lq), [Lq, Lk]));
      const full = [B, h, Lq, Lk];
      if (!tf.util.arraysEqual(energy.shape, full)) energy = tf.broadcastTo(energy, full);
      return tf.softmax(energy) as tf.Tensor4D;
    });
  }

  /**
   * Multiply-adds of one forward over `batch` sequences of `lq` queries and `lk` keys, by part: the projections
   * (query, key, value, output and the position features, for the terms that need them) and the attention
   * (each term's energy and the weighted sum of values; additions, the softmax and E3's bias sum are left out).
   */
  multiplyAdds(batch: number, lq: number, lk: number): number {
    const [e1, e2, e3, e4] = this.terms;
    const E = this.embedDim;
    let count = batch * (lq + lk) * E * E; // value and output projections
    if (e1 || e2) count += batch * lq * E * E;
    if (e1 || e3) count += batch * lk * E * E;
    if (e2 || e4) count += lq * lk * this.positionEmbeddingDim * E;
    if (e1) count += batch * lq * lk * E;
    else if (e3) count += batch * lk * E; // one row per sequence
    if (e2) count += batch * lq * lk * E;
    else if (e4) count += lq * lk * E; // one map for the batch
    return count + batch * lq * lk * E; // the weighted sum of values
  }

  /** appr_geom_fc of the encoded offsets i - j, per head: [H, Lq, Lk, d]. */
  private relativePositions(lq: number, lk: number): tf.Tensor {
    const dim = this.positionEmbeddingDim;
    // The image form encodes each axis in featDim / 2 channels; one axis of width `dim` is featDim = 2 * dim.
    const encoding = tf.tensor2d(relativePositionEncoding(lq, lk, 1, 1, 1, 2 * dim), [lq * lk, dim]);
    const features = tf.reshape(this.apprGeomFc!.forward(encoding), [lq, lk, this.numHeads, this.headDim]);
    return tf.transpose(features, [2, 0, 1, 3]);
  }

  /** x [B, L, E] through a projection, split into heads: [B, H, L, d], head m owning channels m*d .. m*d + d - 1. */
  private toHeads(projection: Linear, x: tf.Tensor3D): tf.Tensor4D {
    const [b, l] = x.shape;
    const y = projection.forward(tf.reshape(x, [b * l, this.embedDim]));
    return tf.transpose(tf.reshape(y, [b, l, this.numHeads, this.headDim]), [0, 2, 1, 3]) as tf.Tensor4D;
  }

  private checkInputs(query: tf.Tensor, key: tf.Tensor, call: SequenceAttentionCall) {
    if (!(query instanceof tf.Tensor)) throw argumentError(OP, 'query', 'a tensor', query);
    if (!(key instanceof tf.Tensor)) throw argumentError(OP, 'key', 'a tensor', key);
    const E = this.embedDim;
    const sizes = checkShapes(OP, [
      { name: 'query', shape: query.shape, expected: ['B', 'Lq', E] },
      { name: 'key', shape: key.shape, expected: ['B', 'Lk', E] },
    ]);
    if (sizes.B < 1 || sizes.Lq < 1 || sizes.Lk < 1) {
      throw argumentError(OP, 'query, key', 'at least one sequence, query and key', {
        query: query.shape,
        key: key.shape,
      });
    }
    if (call.causal && sizes.Lq !== sizes.Lk) {
      throw argumentError(OP, 'causal', 'as many queries as keys (self-attention)', `Lq ${sizes.Lq}, Lk ${sizes.Lk}`);
    }
    return sizes as { B: number; Lq: number; Lk: number };
  }
}

/** The additive causal mask [L, L]: 0 where key j <= query i, -Infinity after it. */
function causalMaskBias(length: number): Float32Array {
  const out = new Float32Array(length * length);
  for (let i = 0; i < length; i++) for (let j = i + 1; j < length; j++) out[i * length + j] = -Infinity;
  return out;
}
