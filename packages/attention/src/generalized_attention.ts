import * as tf from '@tensorflow/tfjs-core';
import { Module, type Rng, argumentError, assertInteger, checkShapes, rngOption } from '@deformjs/core';
import { Conv2d, type Linear, resizeBilinear, type Layer } from '@deformjs/nn';
import { rangeMaskBias, relativePositionEncoding } from './position';
import { type AttentionTerms, kaimingLinear, kaimingUniformA1, parseAttentionType, replace, termBias } from './terms';

const OP = 'GeneralizedAttention';

export interface GeneralizedAttentionOptions {
  /** Channels of the input feature map (mmcv `in_channels`). */
  inChannels: number;
  /**
   * Four flags, mmcv's `attention_type`: '1000' E1 query and key content, '0100' E2 query content and relative
   * position, '0010' E3 key content only (a learned bias vector dotted with the key), '0001' E4 relative position
   * only. Any non-zero combination; default '1111'.
   */
  attentionType?: string;
  /** Heads; each has inChannels / numHeads (floored) query, key and value dims. Default 9, as mmcv. */
  numHeads?: number;
  /** Keys and values come from every kvStride-th row and column (mmcv's 1x1 pooling with that stride). Default 2. */
  kvStride?: number;
  /** Queries likewise; the output is resized back bilinearly. Default 1. */
  qStride?: number;
  /** Keys farther than this (in query-grid pixels, see rangeMaskBias) are masked out; -1 (default) for none. */
  spatialRange?: number;
  /** Width of the sinusoidal encoding of dx (and of dy), a multiple of 4; -1 (default) means inChannels. */
  positionEmbeddingDim?: number;
  /** Multiplies the coordinate differences before encoding. Default 1. */
  positionMagnitude?: number;
  /** Seeds the initialisation (a number or an Rng to draw from). */
  rng?: Rng | number;
}

/**
 * Generalized spatial attention (Zhu et al., "An Empirical Study of Spatial Attention Mechanisms in Deep
 * Networks", arXiv 1904.05873), with mmcv's GeneralizedAttention semantics and parameter names, in NHWC:
 * `forward(x)` returns `gamma * attention(x) + x` for x [N, H, W, inChannels]; gamma starts at 0, so a new module
 * is the identity and can be dropped after the 3x3 conv of a ResNet bottleneck.
 *
 * The energy of query q = (y, x) and key k = (ky, kx) in head m is
 *   [E1] Q.K + [E3] u.K + [E2] Q.(Px + Py) + [E4] v.(Px + Py)
 * with Px = fc_x(enc(x - kx)) / sqrt 2, Py = fc_y(enc(y - ky)) / sqrt 2, u = appr_bias, v = geom_bias; softmax
 * over the keys, then a weighted sum of values and a 1x1 output conv. The map is built head by head: position
 * terms are made per row and per column and broadcast into it, and terms that do not depend on the query (E3
 * alone) or on the image (E4 alone) keep a size-1 axis there.
 */
export class GeneralizedAttention extends Module implements Layer {
  readonly inChannels: number;
  readonly numHeads: number;
  readonly kvStride: number;
  readonly qStride: number;
  readonly spatialRange: number;
  readonly positionEmbeddingDim: number;
  readonly positionMagnitude: number;
  /** E1..E4 as booleans. */
  readonly terms: AttentionTerms;
  /** Query/key (and value) dims per head: inChannels / numHeads, floored. */
  readonly headDim: number;

  readonly apprBias: tf.Variable | null;
  readonly geomBias: tf.Variable | null;
  readonly gamma: tf.Variable;
  readonly queryConv: Conv2d | null;
  readonly keyConv: Conv2d | null;
  readonly valueConv: Conv2d;
  readonly apprGeomFcX: Linear | null;
  readonly apprGeomFcY: Linear | null;
  readonly projConv: Conv2d;

  constructor(options: GeneralizedAttentionOptions) {
    super();
    const { inChannels } = options;
    assertInteger(OP, 'inChannels', inChannels, 1);
    this.inChannels = inChannels;
    this.numHeads = assertInteger(OP, 'numHeads', options.numHeads ?? 9, 1, inChannels);
    this.kvStride = assertInteger(OP, 'kvStride', options.kvStride ?? 2, 1);
    this.qStride = assertInteger(OP, 'qStride', options.qStride ?? 1, 1);
    this.spatialRange = assertInteger(OP, 'spatialRange', options.spatialRange ?? -1, -1);
    this.positionMagnitude = options.positionMagnitude ?? 1;
    if (typeof this.positionMagnitude !== 'number' || !Number.isFinite(this.positionMagnitude)) {
      throw argumentError(OP, 'positionMagnitude', 'a finite number', this.positionMagnitude);
    }
    const embedding = options.positionEmbeddingDim ?? -1;
    this.positionEmbeddingDim = embedding > 0 ? embedding : inChannels;
    this.terms = parseAttentionType(options.attentionType ?? '1111');
    const [e1, e2, e3, e4] = this.terms;
    if ((e2 || e4) && (!Number.isInteger(this.positionEmbeddingDim) || this.positionEmbeddingDim % 4 !== 0)) {
      throw argumentError(
        OP,
        'positionEmbeddingDim',
        'a positive multiple of 4 (sines and cosines of dx and dy), or -1 for inChannels when that is one',
        embedding > 0 ? embedding : `${inChannels} (inChannels)`,
      );
    }
    this.headDim = Math.floor(inChannels / this.numHeads);
    const width = this.headDim * this.numHeads;
    const rng = rngOption(OP, options.rng);

    // Registration order follows mmcv's state_dict: own parameters first, then the convs and linears.
    this.apprBias = e3 ? this.addParameter('appr_bias', termBias(rng, this.numHeads, this.headDim)) : null;
    this.geomBias = e4 ? this.addParameter('geom_bias', termBias(rng, this.numHeads, this.headDim)) : null;
    this.gamma = this.addParameter('gamma', tf.zeros([1]));
    this.queryConv = e1 || e2 ? this.addModule('query_conv', conv1x1(rng, inChannels, width, false)) : null;
    this.keyConv = e1 || e3 ? this.addModule('key_conv', conv1x1(rng, inChannels, width, false)) : null;
    this.valueConv = this.addModule('value_conv', conv1x1(rng, inChannels, width, false));
    this.apprGeomFcX =
      e2 || e4
        ? this.addModule('appr_geom_fc_x', kaimingLinear(rng, this.positionEmbeddingDim / 2, width, false))
        : null;
    this.apprGeomFcY =
      e2 || e4
        ? this.addModule('appr_geom_fc_y', kaimingLinear(rng, this.positionEmbeddingDim / 2, width, false))
        : null;
    this.projConv = this.addModule('proj_conv', conv1x1(rng, width, inChannels, true));
  }

  /** x [N, H, W, inChannels] -> gamma * attention(x) + x, same shape. */
  forward(x: tf.Tensor): tf.Tensor4D {
    this.checkInput(x);
    return tf.tidy(() => {
      const [n, height, width] = x.shape;
      const m = this.numHeads;
      const d = this.headDim;
      if (this.saliencyOnly) {
        // mmcv's "accelerate for saliency only": one attention row per image and head, [n, m, keys].
        const { rows, value } = this.saliency(x as tf.Tensor4D);
        const attended = tf.sum(tf.mul(tf.expandDims(rows, 3), value), 2); // [n, m, d]
        const out = this.projConv.forward(tf.reshape(attended, [n, 1, 1, m * d]));
        return tf.add(tf.mul(this.gamma, out), x) as tf.Tensor4D;
      }
      const { maps, value, queryHeight, queryWidth } = this.attend(x as tf.Tensor4D);
      const q = queryHeight * queryWidth;
      const kv = value.shape[2];
      let attended: tf.Tensor; // [n, m, q, d]
      if (maps.length === n) {
        const values = tf.reshape(value, [n * m, kv, d]);
        const outs = maps.flatMap((heads, b) =>
          heads.map((map, head) => tf.matMul(map, matrixAt(values, b * m + head))),
        );
        attended = tf.reshape(tf.concat(outs, 0), [n, m, q, d]);
      } else {
        // One map per head for every image: multiply it with all images' values at once, [kv, n*d].
        const values = tf.reshape(tf.transpose(value, [1, 2, 0, 3]), [m, kv, n * d]);
        const outs = maps[0].map((map, head) => tf.matMul(map, matrixAt(values, head)));
        attended = tf.transpose(tf.reshape(tf.concat(outs, 0), [m, q, n, d]), [2, 0, 1, 3]);
      }
      const merged = tf.reshape(tf.transpose(attended, [0, 2, 1, 3]), [
        n,
        queryHeight,
        queryWidth,
        m * d,
      ]) as tf.Tensor4D;
      let out = this.projConv.forward(merged) as tf.Tensor4D;
      if (this.qStride > 1 && (queryHeight !== height || queryWidth !== width)) {
        out = resizeBilinear(out, [height, width]);
      }
      return tf.add(tf.mul(this.gamma, out), x) as tf.Tensor4D;
    });
  }

  /**
   * The attention weights [N or 1, numHeads, queries, keys], keys in row-major order of the kvStride-subsampled
   * map. Queries are the qStride-subsampled positions in row-major order, or a single row when no term depends on
   * the query (E3 alone, no spatial range); the batch axis is 1 when none depends on the image (E4 alone).
   */
  attentionMap(x: tf.Tensor): tf.Tensor4D {
    this.checkInput(x);
    return tf.tidy(() => {
      if (this.saliencyOnly) return tf.expandDims(this.saliency(x as tf.Tensor4D).rows, 2) as tf.Tensor4D;
      return tf.stack(this.attend(x as tf.Tensor4D).maps.map((heads) => tf.stack(heads))) as tf.Tensor4D;
    });
  }

  /** E3 alone and no spatial range: the energy u . K_k depends on neither the query nor its position. */
  private get saliencyOnly(): boolean {
    const [e1, e2, e3, e4] = this.terms;
    return e3 && !e1 && !e2 && !e4 && this.spatialRange < 0;
  }

  /** Softmax over the keys of u . K_k per image and head, [n, m, keys], and the values [n, m, keys, d]. */
  private saliency(x: tf.Tensor4D): { rows: tf.Tensor3D; value: tf.Tensor4D } {
    const m = this.numHeads;
    const xkv = subsample(x, this.kvStride);
    const key = toHeads(this.keyConv!.forward(xkv) as tf.Tensor4D, m);
    const value = toHeads(this.valueConv.forward(xkv) as tf.Tensor4D, m);
    const energy = tf.sum(tf.mul(key, tf.reshape(this.apprBias!, [1, m, 1, this.headDim])), -1);
    return { rows: tf.softmax(energy) as tf.Tensor3D, value };
  }

  private checkInput(x: tf.Tensor): void {
    if (!(x instanceof tf.Tensor)) throw argumentError(OP, 'x', 'a tensor', x);
    const { N } = checkShapes(OP, [{ name: 'x', shape: x.shape, expected: ['N', 'H', 'W', this.inChannels] }]);
    if (N < 1) throw argumentError(OP, 'x', 'a batch of at least 1 image', x.shape);
  }

  /**
   * The softmax weights per attention batch (each image, or one shared by all when no term depends on the image)
   * and head, [queries, keys] each, and the values [n, m, keys, d]. The energy is summed head by head: only the
   * query-key content term is as large as the map, and it is made per head as one 2-D product; the other terms
   * are per-row or per-column pieces broadcast into it.
   */
  private attend(x: tf.Tensor4D): {
    maps: tf.Tensor2D[][];
    value: tf.Tensor4D;
    queryHeight: number;
    queryWidth: number;
  } {
    const n = x.shape[0];
    const xq = subsample(x, this.qStride);
    const xkv = subsample(x, this.kvStride);
    const [, h, w] = xq.shape;
    const [, hKv, wKv] = xkv.shape;
    const m = this.numHeads;
    const d = this.headDim;
    const [e1, e2, e3, e4] = this.terms;

    const query = this.queryConv ? toHeads(this.queryConv.forward(xq) as tf.Tensor4D, m) : null; // [n, m, h*w, d]
    const key = this.keyConv ? toHeads(this.keyConv.forward(xkv) as tf.Tensor4D, m) : null; // [n, m, hKv*wKv, d]
    const value = toHeads(this.valueConv.forward(xkv) as tf.Tensor4D, m);

    // Terms other than the content one, each shaped [tb, tm, th, tw, tkh, tkw] with tb in {1, n}, tm in {1, m}
    // and size-1 axes where it does not vary; broadcast together per (image, head).
    const pieces: tf.Tensor[] = [];
    let content: { queries: tf.Tensor; keysT: tf.Tensor } | null = null;
    if (e1) {
      const q = e3 ? tf.add(query!, tf.reshape(this.apprBias!, [1, m, 1, d])) : query!;
      content = {
        queries: tf.reshape(q, [n * m, h * w, d]),
        keysT: tf.reshape(tf.transpose(key!, [0, 1, 3, 2]), [n * m, d, hKv * wKv]),
      };
    } else if (e3) {
      const saliency = tf.sum(tf.mul(key!, tf.reshape(this.apprBias!, [1, m, 1, d])), -1);
      pieces.push(tf.reshape(saliency, [n, m, 1, 1, hKv, wKv]));
    }
    if (e2 || e4) {
      const [px, py] = this.positionFeatures(h, w, hKv, wKv); // [m, w, wKv, d], [m, h, hKv, d]
      if (e2) {
        const q = e4 ? tf.add(query!, tf.reshape(this.geomBias!, [1, m, 1, d])) : query!;
        const q5 = tf.reshape(q, [n, m, h, w, d]);
        // Batched over (head, column): [m, w, n*h, d] x [m, w, d, wKv]; likewise over (head, row).
        const byColumn = tf.reshape(tf.transpose(q5, [1, 3, 0, 2, 4]), [m, w, n * h, d]);
        const ex = tf.transpose(
          tf.reshape(tf.matMul(byColumn, tf.transpose(px, [0, 1, 3, 2])), [m, w, n, h, wKv]),
          [2, 0, 3, 1, 4],
        );
        const byRow = tf.reshape(tf.transpose(q5, [1, 2, 0, 3, 4]), [m, h, n * w, d]);
        const ey = tf.transpose(
          tf.reshape(tf.matMul(byRow, tf.transpose(py, [0, 1, 3, 2])), [m, h, n, w, hKv]),
          [2, 0, 1, 3, 4],
        );
        pieces.push(tf.reshape(ex, [n, m, h, w, 1, wKv]), tf.reshape(ey, [n, m, h, w, hKv, 1]));
      } else {
        const v = tf.reshape(this.geomBias!, [m, 1, 1, d]);
        pieces.push(
          tf.reshape(tf.sum(tf.mul(px, v), -1), [1, m, 1, w, 1, wKv]),
          tf.reshape(tf.sum(tf.mul(py, v), -1), [1, m, h, 1, hKv, 1]),
        );
      }
    }
    if (this.spatialRange >= 0) {
      pieces.push(
        tf.tensor(rangeMaskBias(h, hKv, this.spatialRange, this.kvStride), [1, 1, h, 1, hKv, 1]),
        tf.tensor(rangeMaskBias(w, wKv, this.spatialRange, this.kvStride), [1, 1, 1, w, 1, wKv]),
      );
    }
    // One map per image unless no term depends on the image; one query row unless some term depends on it.
    const batches = content !== null || pieces.some((t) => t.shape[0] !== 1) ? n : 1;
    const queryHeight = content !== null ? h : Math.max(...pieces.map((t) => t.shape[2] as number));
    const queryWidth = content !== null ? w : Math.max(...pieces.map((t) => t.shape[3] as number));
    // Each piece as [tb*tm, th, tw, tkh, tkw], so one (image, head) is a slice along the first axis.
    const flat = pieces.map((t) => tf.reshape(t, [-1, ...t.shape.slice(2)]));
    const maps = Array.from({ length: batches }, (_, b) =>
      Array.from({ length: m }, (_, head) => {
        const parts = flat.map((t, i) => {
          const [tb, tm] = pieces[i].shape;
          const index = (tb === 1 ? 0 : b) * tm + (tm === 1 ? 0 : head);
          const shape = t.shape.slice(1);
          return tf.reshape(tf.slice(t, [index, 0, 0, 0, 0], [1, ...shape]), shape);
        });
        if (content) {
          const i = b * m + head;
          parts.unshift(
            tf.reshape(tf.matMul(matrixAt(content.queries, i), matrixAt(content.keysT, i)), [h, w, hKv, wKv]),
          );
        }
        const summed = parts.reduce((sum, t) => tf.add(sum, t));
        const full = [queryHeight, queryWidth, hKv, wKv];
        const energy = tf.util.arraysEqual(summed.shape, full) ? summed : tf.broadcastTo(summed, full);
        return tf.softmax(tf.reshape(energy, [queryHeight * queryWidth, hKv * wKv])) as tf.Tensor2D;
      }),
    );
    return { maps, value, queryHeight, queryWidth };
  }

  /** fc_x / fc_y of the encoded column and row offsets, divided by sqrt 2, per head: [m, w, wKv, d], [m, h, hKv, d]. */
  private positionFeatures(h: number, w: number, hKv: number, wKv: number): [tf.Tensor, tf.Tensor] {
    const dim = this.positionEmbeddingDim;
    const axis = (queries: number, keys: number, fc: Linear) => {
      const encoding = tf.tensor2d(
        relativePositionEncoding(queries, keys, this.qStride, this.kvStride, this.positionMagnitude, dim),
        [queries * keys, dim / 2],
      );
      const features = tf.mul(fc.forward(encoding), Math.SQRT1_2);
      return tf.transpose(tf.reshape(features, [queries, keys, this.numHeads, this.headDim]), [2, 0, 1, 3]);
    };
    return [axis(w, wKv, this.apprGeomFcX!), axis(h, hKv, this.apprGeomFcY!)];
  }
}

/**
 * Every stride-th row and column from the first: what mmcv's AvgPool2d(kernel_size=1, stride) computes. Built
 * from pad, reshape and a rank-4 slice, which have gradients and fast wasm kernels (StridedSlice has no gradient).
 */
function subsample(x: tf.Tensor4D, stride: number): tf.Tensor4D {
  if (stride === 1) return x;
  const [n, h, w, c] = x.shape;
  const [hOut, wOut] = [Math.ceil(h / stride), Math.ceil(w / stride)];
  const padded = tf.pad(x, [
    [0, 0],
    [0, hOut * stride - h],
    [0, wOut * stride - w],
    [0, 0],
  ]);
  // [n*hOut, stride, wOut, stride*c]: row phase on axis 1, column phase in the leading c of axis 3.
  const blocks = tf.reshape(padded, [n * hOut, stride, wOut, stride * c]);
  return tf.reshape(tf.slice(blocks, [0, 0, 0, 0], [n * hOut, 1, wOut, c]), [n, hOut, wOut, c]) as tf.Tensor4D;
}

/** Matrix i of t [B, R, C], as [R, C]. */
function matrixAt(t: tf.Tensor, i: number): tf.Tensor2D {
  const [batch, rows, columns] = t.shape;
  if (batch === 1) return tf.reshape(t, [rows, columns]);
  return tf.reshape(tf.slice(t, [i, 0, 0], [1, rows, columns]), [rows, columns]);
}

/** [n, h, w, m*d] -> [n, m, h*w, d], channel m*d + i being head m's dim i (mmcv's view(n, m, d, h*w)). */
function toHeads(t: tf.Tensor4D, heads: number): tf.Tensor4D {
  const [n, h, w, c] = t.shape;
  return tf.transpose(tf.reshape(t, [n, h * w, heads, c / heads]), [0, 2, 1, 3]) as tf.Tensor4D;
}

/** nn.Conv2d(in, out, 1) with mmcv's kaiming init (bias 0). */
function conv1x1(rng: Rng, inChannels: number, outChannels: number, bias: boolean): Conv2d {
  const conv = new Conv2d(rng, inChannels, outChannels, 1, { bias });
  replace(conv.weight, kaimingUniformA1(rng, [1, 1, inChannels, outChannels], inChannels));
  if (conv.bias) replace(conv.bias, tf.zerosLike(conv.bias));
  return conv;
}
