import * as tf from '@tensorflow/tfjs-core';
import { argumentError, assertInteger, type Rng } from '@deformjs/core';
import { SPECIAL_TOKENS, type EncodedText, type WordPieceTokenizer } from './tokenizer';
import type { VLBert, VLBertInputs } from './vl_bert';
import { crossEntropy } from './losses';

/** Ignored label (no loss at this token or RoI). */
export const IGNORE = -1;

/**
 * BERT's masking by whole words: each word is chosen with probability `probability` (a number, or a function of
 * the word's first piece, to mask some words more often); each of its pieces then becomes [MASK] (80%), a random
 * non-special token (10%) or stays (10%), and is labelled with its own id.
 */
export function maskWords(
  rng: Rng,
  text: EncodedText,
  tokenizer: WordPieceTokenizer,
  probability: number | ((word: string) => number) = 0.15,
): { ids: number[]; labels: number[] } {
  const probabilityOf = typeof probability === 'number' ? () => probability : probability;
  const chosen = new Map<number, boolean>();
  text.wordIds.forEach((w, i) => {
    if (w >= 0 && !chosen.has(w)) chosen.set(w, rng.next() < probabilityOf(tokenizer.token(text.ids[i])));
  });
  const specials = new Set(SPECIAL_TOKENS.map((t) => tokenizer.id(t)));
  const ids = text.ids.slice();
  const labels = text.ids.map(() => IGNORE);
  text.wordIds.forEach((w, i) => {
    if (w < 0 || !chosen.get(w)) return;
    labels[i] = text.ids[i];
    const r = rng.next();
    if (r < 0.8) ids[i] = tokenizer.id('[MASK]');
    else if (r < 0.9) {
      let id = rng.int(tokenizer.vocabSize);
      while (specials.has(id)) id = rng.int(tokenizer.vocabSize);
      ids[i] = id;
    }
  });
  return { ids, labels };
}

/** Masks words whose text matches `select` (every piece), for evaluating what the model infers from the image. */
export function maskSelectedWords(
  text: EncodedText,
  tokenizer: WordPieceTokenizer,
  select: (word: string) => boolean,
): { ids: number[]; labels: number[] } {
  const ids = text.ids.slice();
  const labels = text.ids.map(() => IGNORE);
  text.ids.forEach((id, i) => {
    if (text.wordIds[i] < 0 || !select(tokenizer.token(id))) return;
    labels[i] = id;
    ids[i] = tokenizer.id('[MASK]');
  });
  return { ids, labels };
}

/** One image with its regions and text; images are normalised [S, S, 3] floats, boxes xyxy in its pixels. */
export interface VLExample {
  image: Float32Array;
  boxes: readonly (readonly number[])[];
  /** Precomputed features of the boxes (one row each), for a model with `regionFeatureDim`. */
  roiFeatures?: readonly (readonly number[])[];
  ids: readonly number[];
  segmentIds: readonly number[];
  /** Per text token: the word id to predict or IGNORE. */
  textLabels?: readonly number[];
  /** Per RoI: the class to predict (masked RoIs) or IGNORE. */
  roiLabels?: readonly number[];
}

export interface VLBatch extends VLBertInputs {
  /** Flat [B * T] and [B * R] labels (IGNORE where none). */
  textLabels: Int32Array;
  roiLabels: Int32Array;
}

/**
 * Zeroes the pixels of the given boxes in a normalised [S, S, 3] image (in place), so a masked RoI's own
 * appearance cannot reveal its label: masked RoI classification then has to use the words and the context.
 */
export function zeroBoxes(image: Float32Array, size: number, boxes: readonly (readonly number[])[]): void {
  for (const [x0, y0, x1, y1] of boxes) {
    for (let y = Math.max(0, Math.floor(y0)); y < Math.min(size, Math.ceil(y1)); y++)
      image.fill(0, 3 * (y * size + Math.max(0, Math.floor(x0))), 3 * (y * size + Math.min(size, Math.ceil(x1))));
  }
}

/** Pads examples into one batch: text to the longest, RoIs to the most (padding boxes cover the image, masked out). */
export function collate(examples: readonly VLExample[], imageSize: number, padId: number): VLBatch {
  const op = 'collate';
  if (examples.length === 0) throw argumentError(op, 'examples', 'at least one example', 0);
  assertInteger(op, 'imageSize', imageSize, 1);
  const B = examples.length;
  const T = Math.max(...examples.map((e) => e.ids.length));
  const R = Math.max(1, ...examples.map((e) => e.boxes.length));
  const D = examples.find((e) => e.roiFeatures?.length)?.roiFeatures?.[0].length ?? 0;
  const roiFeatures = examples[0].roiFeatures ? new Float32Array(B * R * D) : undefined;
  const images = new Float32Array(B * imageSize * imageSize * 3);
  const boxes = new Float32Array(B * R * 4);
  const roiMask = new Float32Array(B * R);
  const textIds = new Int32Array(B * T).fill(padId);
  const textSegments = new Int32Array(B * T);
  const textMask = new Float32Array(B * T);
  const textLabels = new Int32Array(B * T).fill(IGNORE);
  const roiLabels = new Int32Array(B * R).fill(IGNORE);
  examples.forEach((e, b) => {
    if (e.image.length !== imageSize * imageSize * 3)
      throw argumentError(op, `examples[${b}].image`, `${imageSize}x${imageSize}x3 floats`, e.image.length);
    if (e.segmentIds.length !== e.ids.length)
      throw argumentError(op, `examples[${b}].segmentIds`, `${e.ids.length} ids`, e.segmentIds.length);
    images.set(e.image, b * imageSize * imageSize * 3);
    if (roiFeatures) {
      const rows = e.roiFeatures;
      if (!rows || rows.length !== e.boxes.length || rows.some((f) => f.length !== D))
        throw argumentError(
          op,
          `examples[${b}].roiFeatures`,
          `${e.boxes.length} rows of ${D} features (as the others)`,
          rows ? `${rows.length} rows` : 'none',
        );
      rows.forEach((f, r) => roiFeatures.set(f, (b * R + r) * D));
    } else if (e.roiFeatures)
      throw argumentError(
        op,
        `examples[${b}].roiFeatures`,
        'none (examples[0] has none)',
        `${e.roiFeatures.length} rows`,
      );
    for (let r = 0; r < R; r++) {
      const box = r < e.boxes.length ? e.boxes[r] : [0, 0, imageSize, imageSize];
      boxes.set(box, 4 * (b * R + r));
      roiMask[b * R + r] = r < e.boxes.length ? 1 : 0;
      if (e.roiLabels && r < e.boxes.length) roiLabels[b * R + r] = e.roiLabels[r];
    }
    e.ids.forEach((id, t) => {
      textIds[b * T + t] = id;
      textSegments[b * T + t] = e.segmentIds[t];
      textMask[b * T + t] = 1;
      if (e.textLabels) textLabels[b * T + t] = e.textLabels[t];
    });
  });
  return {
    images: tf.tensor4d(images, [B, imageSize, imageSize, 3]),
    boxes: tf.tensor3d(boxes, [B, R, 4]),
    roiMask: tf.tensor2d(roiMask, [B, R]),
    textIds: tf.tensor2d(textIds, [B, T], 'int32'),
    textSegments: tf.tensor2d(textSegments, [B, T], 'int32'),
    textMask: tf.tensor2d(textMask, [B, T]),
    textLabels,
    roiLabels,
    ...(roiFeatures ? { roiFeatures: tf.tensor3d(roiFeatures, [B, R, D]) } : {}),
  };
}

export function disposeBatch(batch: VLBertInputs): void {
  tf.dispose([batch.images, batch.boxes, batch.roiMask, batch.textIds, batch.textSegments, batch.textMask]);
  if (batch.roiFeatures) batch.roiFeatures.dispose();
}

/** Rows of a [B, L, H] tensor at the flat positions whose label is not IGNORE, with those labels. */
export function labelledRows(hidden: tf.Tensor, labels: Int32Array): { rows: tf.Tensor; labels: number[] } {
  const [B, L, H] = hidden.shape;
  const positions: number[] = [];
  const kept: number[] = [];
  labels.forEach((l, i) => {
    if (l === IGNORE) return;
    positions.push(i);
    kept.push(l);
  });
  return tf.tidy(() => ({
    rows: tf.gather(tf.reshape(hidden, [B * L!, H!]), tf.tensor1d(positions, 'int32')),
    labels: kept,
  }));
}

export type PretrainingLosses = {
  loss: tf.Scalar;
  /** Masked language modelling (with visual clues, or text-only when batch.visual is 'none'). */
  mlm: tf.Scalar;
  /** Masked RoI classification (0 for text-only batches or when no RoI is masked). */
  mvrc: tf.Scalar;
};

/** The pre-training objective of one batch: MLM on masked words plus masked RoI classification. */
export function pretrainingLosses(model: VLBert, batch: VLBatch): PretrainingLosses {
  return tf.tidy(() => {
    const out = model.forward(batch);
    const words = labelledRows(out.text, batch.textLabels);
    const mlm = crossEntropy(model.cls.predictions.forward(words.rows), words.labels);
    const regions = labelledRows(out.rois, batch.visual === 'none' ? new Int32Array(0) : batch.roiLabels);
    const mvrc =
      regions.labels.length > 0 ? crossEntropy(model.mvrc_head.forward(regions.rows), regions.labels) : tf.scalar(0);
    return { loss: tf.add(mlm, mvrc) as tf.Scalar, mlm, mvrc };
  });
}
