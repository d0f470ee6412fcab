import { argumentError, assertInteger, assertPositive } from '@deformjs/core';
import { linearSumAssignment } from '@deformjs/metrics';

export interface TrackerConfig {
  /** gamma: cosine similarities are multiplied by it inside the association softmax. */
  similarityScale: number;
  /**
   * The null tracklet's similarity: its logit is gamma * nullSimilarity, so a detection joins a tracklet only when
   * the two are more similar than this, and otherwise starts one (a new object).
   */
  nullSimilarity: number;
  /** Running-average rate of a tracklet's embedding and score: value <- (1 - m) value + m new. */
  momentum: number;
  /** A detection whose (conditioned) score reaches this starts a tracklet when it joins none (birth). */
  birthScore: number;
  /** A tracklet reported in a frame needs a detection there scoring at least this. */
  outputScore: number;
  /** A tracklet dies after this many consecutive frames without a detection (occlusion up to maxAge - 1 survives). */
  maxAge: number;
  /** Re-weight detection scores by the tracklets they would join (the paper); false: plain detection scores. */
  condition: boolean;
}

/** The paper's setting as we read it, with thresholds chosen for the toy data (not tuned on its test split). */
export const DEFAULT_TRACKER: TrackerConfig = {
  similarityScale: 10,
  nullSimilarity: 0.5,
  momentum: 0.5,
  birthScore: 0.5,
  outputScore: 0.3,
  maxAge: 5,
  condition: true,
};

/** One frame's detections of one class-agnostic or per-class detector: xyxy boxes, scores, labels, embeddings. */
export interface FrameDetections {
  /** [K * 4] xyxy in pixels. */
  boxes: Float32Array;
  scores: Float32Array;
  labels: Int32Array;
  /** [K * D], one embedding per detection (need not be normalised). */
  embeddings: Float32Array;
}

/** A tracklet as the tracker keeps it between frames. */
export interface Tracklet {
  id: number;
  label: number;
  /** Running average of its detections' unit embeddings, renormalised. */
  embedding: Float32Array;
  /** Running average of its detections' (conditioned) scores. */
  score: number;
  /** Its last box, xyxy. */
  box: Float32Array;
  /** Frames since its last detection (0: detected in the last frame). */
  age: number;
  hits: number;
}

/** A tracked box of one frame. */
export interface TrackedBox {
  trackId: number;
  /** xyxy in pixels. */
  box: Float32Array;
  /** The detection's score after conditioning (or its own score without). */
  score: number;
  /** The detector's own score. */
  detectionScore: number;
  label: number;
}

/**
 * The association weights of arXiv 1811.11167 for one detection: softmax over [null, tracklets of its class] of
 * gamma * cosine similarity, the null tracklet's similarity fixed at `nullSimilarity`. `similarities` are the
 * detection's cosine similarities to the tracklets (NaN for a tracklet of another class, weight 0). Returns
 * [w_null, w_1, ..., w_T].
 */
export function associationWeights(similarities: ArrayLike<number>, config: TrackerConfig): Float64Array {
  const logits = [config.nullSimilarity, ...Array.from(similarities)].map((s) =>
    Number.isNaN(s) ? -Infinity : config.similarityScale * s,
  );
  const max = Math.max(...logits);
  const exp = logits.map((l) => Math.exp(l - max));
  const sum = exp.reduce((a, b) => a + b, 0);
  return Float64Array.from(exp, (e) => e / sum);
}

/**
 * The tracklet-conditioned score: the detection's own score weighted by the null tracklet, plus every tracklet's
 * running score weighted by how likely the detection joins it. A weak detection of a well-established object is
 * raised towards its tracklet's score, a detection that looks like a weak (false) tracklet is lowered, and a new
 * object keeps its own score.
 */
export function conditionedScore(score: number, weights: ArrayLike<number>, tracklets: readonly Tracklet[]): number {
  let out = weights[0] * score;
  tracklets.forEach((t, j) => (out += weights[j + 1] * t.score));
  return out;
}

function normalise(v: ArrayLike<number>): Float32Array {
  let norm = 0;
  for (let i = 0; i < v.length; i++) norm += v[i] * v[i];
  norm = Math.sqrt(norm) || 1;
  return Float32Array.from(v, (x) => x / norm);
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function checkConfig(config: TrackerConfig): TrackerConfig {
  const op = 'Tracker';
  assertPositive(op, 'config.similarityScale', config.similarityScale);
  for (const key of ['nullSimilarity', 'momentum', 'birthScore', 'outputScore'] as const) {
    const v = config[key];
    const [low, high] = key === 'nullSimilarity' ? [-1, 1] : [0, 1];
    if (typeof v !== 'number' || !(v >= low && v <= high))
      throw argumentError(op, `config.${key}`, `a number in [${low}, ${high}]`, v);
  }
  assertInteger(op, 'config.maxAge', config.maxAge, 1);
  if (typeof config.condition !== 'boolean') throw argumentError(op, 'config.condition', 'a boolean', config.condition);
  return config;
}

/**
 * Online tracking with tracklet-conditioned detection (Zhang et al., arXiv 1811.11167). Per frame:
 * 1. each detection's association weights over [null, live tracklets of its class] (`associationWeights`);
 * 2. its conditioned score (`conditionedScore`), or its own score when `condition` is false;
 * 3. one-to-one association (minimum total cost, cost = -similarity), a pair kept only when the tracklet is more
 *    similar than the null tracklet: the matched tracklet takes the box and running-averages the unit embedding
 *    and the conditioned score (`momentum`);
 * 4. birth: an unmatched detection scoring at least `birthScore` starts a tracklet;
 * 5. death: a tracklet without a detection ages by one and dies after `maxAge` such frames; until then it keeps
 *    its embedding, so an object back from an occlusion rejoins it.
 * Reported per frame: the tracklets detected in it whose score there reaches `outputScore`.
 */
export class Tracker {
  readonly config: TrackerConfig;
  tracklets: Tracklet[] = [];
  private nextId = 1;

  constructor(config: Partial<TrackerConfig> = {}) {
    this.config = checkConfig({ ...DEFAULT_TRACKER, ...config });
  }

  /** Tracks one frame's detections; returns the boxes reported in it with their track ids. */
  step(detections: FrameDetections): TrackedBox[] {
    const { boxes, scores, labels, embeddings } = checkDetections(detections);
    const K = scores.length;
    const D = K > 0 ? embeddings.length / K : 0;
    const units = Array.from({ length: K }, (_, k) => normalise(embeddings.subarray(k * D, (k + 1) * D)));
    const live = this.tracklets;
    if (live.length > 0 && live[0].embedding.length !== D && K > 0)
      throw argumentError(
        'Tracker.step',
        'detections.embeddings',
        `${live[0].embedding.length} values per detection`,
        D,
      );
    const T = live.length;
    const similarity = new Float64Array(K * T);
    const conditioned = new Float64Array(K);
    for (let k = 0; k < K; k++) {
      for (let j = 0; j < T; j++)
        similarity[k * T + j] = live[j].label === labels[k] ? dot(units[k], live[j].embedding) : NaN;
      const weights = associationWeights(similarity.subarray(k * T, (k + 1) * T), this.config);
      conditioned[k] = this.config.condition ? conditionedScore(scores[k], weights, live) : scores[k];
    }
    // One-to-one: maximum total similarity over the admissible pairs (more similar than the null tracklet).
    const admissible = (k: number, j: number) => similarity[k * T + j] > this.config.nullSimilarity;
    const matchOf = new Int32Array(K).fill(-1);
    if (K > 0 && T > 0) {
      const cost = new Float64Array(K * T);
      for (let i = 0; i < K * T; i++) cost[i] = admissible(Math.floor(i / T), i % T) ? -similarity[i] : 0;
      const { rowIndices, colIndices } = linearSumAssignment(cost, K, T);
      rowIndices.forEach((k, n) => {
        if (admissible(k, colIndices[n])) matchOf[k] = colIndices[n];
      });
    }
    const out: TrackedBox[] = [];
    const matched = new Set<number>();
    const { momentum: m } = this.config;
    for (let k = 0; k < K; k++) {
      const box = boxes.slice(4 * k, 4 * k + 4);
      let tracklet: Tracklet;
      if (matchOf[k] >= 0) {
        tracklet = live[matchOf[k]];
        tracklet.embedding = normalise(tracklet.embedding.map((e, i) => (1 - m) * e + m * units[k][i]));
        tracklet.score = (1 - m) * tracklet.score + m * conditioned[k];
        tracklet.box = box;
        tracklet.age = 0;
        tracklet.hits++;
      } else if (conditioned[k] >= this.config.birthScore) {
        tracklet = {
          id: this.nextId++,
          label: labels[k],
          embedding: units[k],
          score: conditioned[k],
          box,
          age: 0,
          hits: 1,
        };
        live.push(tracklet);
      } else continue;
      matched.add(tracklet.id);
      if (conditioned[k] >= this.config.outputScore)
        out.push({ trackId: tracklet.id, box, score: conditioned[k], detectionScore: scores[k], label: labels[k] });
    }
    for (const t of live) if (!matched.has(t.id)) t.age++;
    this.tracklets = live.filter((t) => t.age < this.config.maxAge);
    return out;
  }

  /** Forgets every tracklet (a new video). */
  reset(): void {
    this.tracklets = [];
    this.nextId = 1;
  }
}

function checkDetections(d: FrameDetections): FrameDetections {
  const op = 'Tracker.step';
  if (typeof d !== 'object' || d === null) throw argumentError(op, 'detections', 'an object', d);
  const K = d.scores?.length;
  if (!(d.scores instanceof Float32Array)) throw argumentError(op, 'detections.scores', 'a Float32Array', d.scores);
  if (!(d.boxes instanceof Float32Array) || d.boxes.length !== 4 * K)
    throw argumentError(op, 'detections.boxes', `a Float32Array of 4 x ${K} values`, d.boxes?.length);
  if (!(d.labels instanceof Int32Array) || d.labels.length !== K)
    throw argumentError(op, 'detections.labels', `an Int32Array of ${K} labels`, d.labels?.length);
  if (
    !(d.embeddings instanceof Float32Array) ||
    (K > 0 && (d.embeddings.length % K !== 0 || d.embeddings.length === 0))
  )
    throw argumentError(op, 'detections.embeddings', `a Float32Array of ${K} x D values`, d.embeddings?.length);
  return d;
}
