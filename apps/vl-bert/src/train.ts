import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@deformjs/core';
import { createProgress } from '@deformjs/core/node';
import { evaluateVqa, vcrAccuracy, type VcrPrediction } from '@deformjs/metrics';
import { AdamW, cosineSchedule, linearWarmup } from '@deformjs/nn';
import {
  IGNORE,
  VLBert,
  collate,
  crossEntropy,
  disposeBatch,
  groundingLoss,
  groundingScores,
  maskSelectedWords,
  maskWords,
  pretrainingLosses,
  trainStep,
  vcrLogits,
  vqaLogits,
  vqaLoss,
  xyxyIou,
  zeroBoxes,
  type VLBatch,
  type VLBertConfig,
  type VLExample,
  type WordPieceTokenizer,
} from '@deformjs/vl-bert';
import { decodeCheckpoint, loadWeights, readCheckpointModel } from '@deformjs/weights';
import {
  LOSS_PLOT,
  TrainingClock,
  readResumableCheckpoint,
  saveTrainingCheckpoint,
  writeRunRecord,
  type RunFolder,
} from '@deformjs/weights/node';
import { SHAPE_CLASSES, SHAPE_COLORS } from '@deformjs/datasets';
import type { CaptionItem, ImageItem, RefItem, VLData, VcrItem, VqaItem } from './data';

export const TASKS = ['pretrain', 'vqa', 'grounding', 'vcr'] as const;
export type Task = (typeof TASKS)[number];

export interface RunOptions {
  task: Task;
  out: string;
  model: VLBertConfig;
  steps: number;
  batch: number;
  lr: number;
  warmup: number;
  /** Pre-training: every n-th step is a text-only MLM batch (0: never). */
  textOnlyEvery: number;
  /**
   * Pre-training: masking probability of colour and shape words (every other word: BERT's 0.15). Upstream masks
   * every word at 0.15; here the colour and shape words are the ones the image can tell.
   */
  contentMask: number;
  /** Fine-tuning: start from this pre-training checkpoint (else from scratch). */
  init?: string;
  /** Train on the first n items (images, questions or expressions) of the task's training set only (0: all). */
  trainItems: number;
  maxText: number;
  checkpointEvery: number;
  seed: number;
  label: string;
}

/** The training record: saved inside every checkpoint (one atomic unit) and mirrored to run.json. */
export interface RunRecord {
  /** The options of the latest start (`report` reads seed, task and init here). */
  options: RunOptions;
  fingerprint: ReturnType<typeof runFingerprint>;
  /** One entry per start of the trainer: from which step, with which schedule. */
  segments: { fromStep: number; options: Pick<RunOptions, 'steps' | 'lr' | 'warmup' | 'checkpointEvery'> }[];
  /** [step, loss] for every step, each exactly once. */
  loss: [number, number][];
  secondsTraining: number;
  /** Process CPU seconds (user + system) spent training. */
  cpuSecondsTraining: number;
  evaluation?: Record<string, unknown>;
}

const COLOR_WORDS = new Set<string>(SHAPE_COLORS.map((c) => c.name));
const SHAPE_WORDS = new Set<string>(SHAPE_CLASSES.flatMap((s) => [s, s.endsWith('s') ? `${s}es` : `${s}s`]));
const shapeOf = (word: string) => SHAPE_CLASSES.findIndex((s) => word === s || word === `${s}s` || word === `${s}es`);
const colorOf = (word: string) => SHAPE_COLORS.findIndex((c) => c.name === word);

/**
 * Whether the image alone settles the masked word at `i` of a caption ("a [MASK] circle": the image's circles all
 * have one colour; "a red [MASK]": its red objects all have one shape), reading each RoI's shape and colour off the
 * generator's region feature (one-hot shape, then one-hot colour). Where it does not, even a model that reads every
 * RoI perfectly has to guess between the candidates.
 */
function settledByImage(item: ImageItem, words: string[], i: number, kind: 'color' | 'shape'): boolean {
  const argMax = (xs: number[]) => xs.indexOf(Math.max(...xs));
  const objects = item.features.map((f) => ({
    shape: argMax(f.slice(0, SHAPE_CLASSES.length)),
    color: argMax(f.slice(SHAPE_CLASSES.length, SHAPE_CLASSES.length + SHAPE_COLORS.length)),
  }));
  const candidates =
    kind === 'color'
      ? objects.filter((o) => o.shape === shapeOf(words[i + 1] ?? '')).map((o) => o.color)
      : objects.filter((o) => o.color === colorOf(words[i - 1] ?? '')).map((o) => o.shape);
  return new Set(candidates).size === 1;
}

/** The model of a task: pre-training heads always, the task's head when fine-tuning. */
export function buildModel(o: Pick<RunOptions, 'task' | 'model'>, data: VLData): VLBert {
  return new VLBert({
    ...o.model,
    numAnswers: o.task === 'vqa' ? data.vqa.answers.length : 0,
    grounding: o.task === 'grounding',
    vcr: o.task === 'vcr',
  });
}

/** Loads the encoder, embeddings, backbone and pre-training heads of a pre-training checkpoint. */
function initFromPretrained(model: VLBert, path: string): void {
  const weights = readCheckpointModel(new Uint8Array(readFileSync(path)), path);
  const report = loadWeights(model, weights, { torchLayout: false });
  const unexpectedMissing = report.missing.filter((k) => !/^(vqa_head|grounding_head|vcr_head)\./.test(k));
  if (unexpectedMissing.length > 0 || report.unexpected.length > 0)
    throw new Error(
      `${path}: not a pre-training checkpoint of this model (missing: ${unexpectedMissing.join(', ') || 'none'}; unexpected: ${report.unexpected.join(', ') || 'none'})`,
    );
}

/**
 * The item's precomputed region features when the model reads them (else none: the backbone sees the pixels);
 * a masked RoI's row is zeroed, as its pixels are, so its label cannot leak.
 */
function regionRows(item: ImageItem, o: Pick<RunOptions, 'model'>, masked?: boolean[]): Partial<VLExample> {
  if (!o.model.regionFeatureDim) return {};
  return { roiFeatures: item.features.map((f, r) => (masked?.[r] ? f.map(() => 0) : f)) };
}

function pretrainExample(
  rng: Rng,
  item: CaptionItem,
  tokenizer: WordPieceTokenizer,
  o: RunOptions,
  imageSize: number,
  textOnly: boolean,
): VLExample {
  const text = tokenizer.encode(item.caption, null, o.maxText);
  const { ids, labels } = maskWords(rng, text, tokenizer, (word) =>
    COLOR_WORDS.has(word) || SHAPE_WORDS.has(word) ? o.contentMask : 0.15,
  );
  if (textOnly) {
    const none = o.model.regionFeatureDim ? { roiFeatures: [] } : {};
    return { image: item.image, boxes: [], ...none, ids, segmentIds: text.segmentIds, textLabels: labels };
  }
  // 15% of RoIs masked: their pixels zeroed before the backbone sees them, their class the target.
  const masked = item.boxes.map(() => rng.next() < 0.15);
  const image = item.image.slice();
  zeroBoxes(
    image,
    imageSize,
    item.boxes.filter((_, r) => masked[r]),
  );
  const roiLabels = item.classes.map((c, r) => (masked[r] ? c : IGNORE));
  const rows = regionRows(item, o, masked);
  return { image, boxes: item.boxes, ...rows, ids, segmentIds: text.segmentIds, textLabels: labels, roiLabels };
}

/** VQA's soft score of each answer: min(1, annotators who gave it / 3). */
function vqaScores(item: VqaItem, answers: readonly string[]): number[] {
  return answers.map((a) => Math.min(1, item.answers.filter((x) => x === a).length / 3));
}

function vqaExample(
  item: VqaItem,
  tokenizer: WordPieceTokenizer,
  o: Pick<RunOptions, 'maxText' | 'model'>,
): VLExample & { mask: number } {
  const text = tokenizer.encode(item.question, '[MASK]', o.maxText);
  return {
    image: item.image,
    boxes: item.boxes,
    ...regionRows(item, o),
    ids: text.ids,
    segmentIds: text.segmentIds,
    mask: text.ids.indexOf(tokenizer.id('[MASK]')),
  };
}

function refExample(item: RefItem, tokenizer: WordPieceTokenizer, o: Pick<RunOptions, 'maxText' | 'model'>): VLExample {
  const text = tokenizer.encode(item.sentence, null, o.maxText);
  const rows = regionRows(item, o);
  return { image: item.image, boxes: item.boxes, ...rows, ids: text.ids, segmentIds: text.segmentIds };
}

/**
 * A VCR question's 8 sequences, as upstream scores them: Q->A `[CLS] question [SEP] answer_i [SEP]` for the 4
 * answers, then QA->R `[CLS] question answer [SEP] rationale_i [SEP]` (the right answer) for the 4 rationales.
 */
function vcrExamples(
  item: VcrItem,
  tokenizer: WordPieceTokenizer,
  o: Pick<RunOptions, 'maxText' | 'model'>,
): VLExample[] {
  const answer = item.answerChoices[item.answerLabel];
  const pairs = [
    ...item.answerChoices.map((a) => [item.question, a]),
    ...item.rationaleChoices.map((r) => [`${item.question} ${answer}`, r]),
  ];
  return pairs.map(([a, b]) => {
    const text = tokenizer.encode(a, b, o.maxText);
    const rows = regionRows(item, o);
    return { image: item.image, boxes: item.boxes, ...rows, ids: text.ids, segmentIds: text.segmentIds };
  });
}

/** The loss of one training step for the task, on examples drawn with `rng`. */
function stepLoss(model: VLBert, data: VLData, tokenizer: WordPieceTokenizer, o: RunOptions, rng: Rng, step: number) {
  const pad = tokenizer.id('[PAD]');
  const draw = <T>(all: T[]) => {
    const items = o.trainItems > 0 ? all.slice(0, o.trainItems) : all;
    return Array.from({ length: o.batch }, () => items[rng.int(items.length)]);
  };
  if (o.task === 'pretrain') {
    const textOnly = o.textOnlyEvery > 0 && step % o.textOnlyEvery === o.textOnlyEvery - 1;
    const batch = collate(
      draw(data.captions.train).map((item) => pretrainExample(rng, item, tokenizer, o, data.imageSize, textOnly)),
      data.imageSize,
      pad,
    );
    return {
      batch: textOnly ? { ...batch, visual: 'none' as const } : batch,
      loss: (b: VLBatch) => pretrainingLosses(model, b).loss,
    };
  }
  if (o.task === 'vqa') {
    const items = draw(data.vqa.train);
    const examples = items.map((item) => vqaExample(item, tokenizer, o));
    const batch = collate(examples, data.imageSize, pad);
    const T = batch.textIds.shape[1]!;
    const positions = examples.map((e, b) => b * T + e.mask);
    const scores = items.map((item) => vqaScores(item, data.vqa.answers));
    return {
      batch,
      loss: (b: VLBatch) => tf.tidy(() => vqaLoss(vqaLogits(model, b, positions), tf.tensor2d(scores))),
    };
  }
  if (o.task === 'vcr') {
    const items = draw(data.vcr.train);
    const batch = collate(
      items.flatMap((item) => vcrExamples(item, tokenizer, o)),
      data.imageSize,
      pad,
    );
    // Rows of vcrLogits: each question's Q->A choice, then its QA->R choice.
    const labels = items.flatMap((item) => [item.answerLabel, item.rationaleLabel]);
    return { batch, loss: (b: VLBatch) => crossEntropy(vcrLogits(model, b), labels) };
  }
  const items = draw(data.refexp.train);
  const batch = collate(
    items.map((item) => refExample(item, tokenizer, o)),
    data.imageSize,
    pad,
  );
  const R = batch.boxes.shape[1]!;
  const targets = items.map((item) =>
    Array.from({ length: R }, (_, r) => (r < item.boxes.length && xyxyIou(item.boxes[r], item.box) > 0.5 ? 1 : 0)),
  );
  return {
    batch,
    loss: (b: VLBatch) => tf.tidy(() => groundingLoss(groundingScores(model, b), tf.tensor2d(targets), b.roiMask)),
  };
}

/** The files a trainer writes in its run folder (what `--fresh` may discard). */
export const CHECKPOINT = 'checkpoint.safetensors';
export const RECORD = 'run.json';
export function ownedByTrainer(name: string): boolean {
  return [CHECKPOINT, RECORD, LOSS_PLOT].includes(name);
}

/** What the checkpoint's `config` holds: enough to rebuild the model and evaluate it alone. */
export interface CheckpointConfig {
  task: Task;
  model: VLBertConfig;
  label: string;
  maxText: number;
}

/**
 * Trains one task in an opened (locked) run folder: AdamW, linear warmup into a cosine decay, gradient clipping
 * at 1, an atomic checkpoint (model, optimizer, step, data and dropout generators and the training record in
 * one file) every `checkpointEvery` steps and at the end, resumed when the folder holds one for the same run
 * (else refused, saying what differs); `run.json` and `loss.svg` mirror the record. Then evaluates on the
 * validation split. `onCheckpoint` runs after each checkpoint write (tests interrupt a run there).
 */
export async function runTask(
  data: VLData,
  tokenizer: WordPieceTokenizer,
  o: RunOptions,
  folder: RunFolder,
  hooks: { onCheckpoint?: (step: number) => void } = {},
): Promise<RunRecord> {
  const checkpointPath = folder.path(CHECKPOINT);
  const fingerprint = runFingerprint(o, data);
  let record: RunRecord = {
    options: o,
    fingerprint,
    segments: [],
    loss: [],
    secondsTraining: 0,
    cpuSecondsTraining: 0,
  };
  const resumed = readResumableCheckpoint<RunRecord>(checkpointPath, fingerprint);
  const bytes = resumed?.bytes;
  if (resumed) record = { ...resumed.record, options: o };
  const model = buildModel(o, data);
  const optimizer = new AdamW(model.trainingVariables(), { lr: o.lr, weightDecay: 0.01 });
  try {
    let rng = new Rng(o.seed);
    let step = 0;
    if (bytes) {
      const state = decodeCheckpoint(bytes, { model, optimizer }, checkpointPath);
      rng = new Rng(state.rngStates.data);
      model.bert.noise.restore(state.rngStates.noise);
      step = state.step;
      if (step < o.steps) console.log(`${o.label}: resuming ${folder.dir} at step ${step}`);
    } else if (o.init && o.task !== 'pretrain') initFromPretrained(model, o.init);
    const { steps, lr, warmup, checkpointEvery } = o;
    record.segments.push({ fromStep: step, options: { steps, lr, warmup, checkpointEvery } });
    // run.json mirrors the checkpoint's record: rewriting it now repairs a kill between the two writes.
    writeRecord(folder, record);
    const schedule = linearWarmup(cosineSchedule(o.lr, Math.max(1, o.steps - o.warmup)), o.warmup);
    const save = () => {
      const config: CheckpointConfig = { task: o.task, model: o.model, label: o.label, maxText: o.maxText };
      const rngs = { data: rng, noise: model.bert.noise.rng };
      saveTrainingCheckpoint(checkpointPath, { model, optimizer, step, epoch: 0, rngs, config, record }, () =>
        writeRecord(folder, record),
      );
      hooks.onCheckpoint?.(step);
    };
    const progress = createProgress({ total: o.steps, label: o.label });
    const clock = new TrainingClock(record);
    while (step < o.steps) {
      optimizer.lr = schedule(step);
      const { batch, loss } = stepLoss(model, data, tokenizer, o, rng, step);
      let result;
      try {
        result = trainStep(model, optimizer, () => loss(batch));
      } finally {
        disposeBatch(batch);
      }
      step += 1;
      if (!result.applied) throw new Error(`training diverged at step ${step} (loss ${result.loss})`);
      record.loss.push([step, result.loss]);
      progress.update(step, { loss: result.loss, lr: optimizer.lr });
      if (step % o.checkpointEvery === 0 && step < o.steps) save();
    }
    progress.done();
    clock.stop();
    record.evaluation = evaluateTask(model, data, tokenizer, o);
    save();
    return record;
  } finally {
    optimizer.dispose();
    model.dispose();
  }
}

/** What a resumed run must match: the task, model, data, batch composition, initialisation and seed. */
function runFingerprint(o: RunOptions, data: VLData) {
  const { task, model, batch, textOnlyEvery, contentMask, maxText, seed, init, trainItems } = o;
  const common = { task, model, data: data.fingerprint, batch, textOnlyEvery, maxText, seed, init: init ?? null };
  return { ...common, trainItems, contentMask };
}

/** run.json and the loss curve: views of the record, rebuilt from the checkpoint whenever they lag. */
function writeRecord(folder: RunFolder, record: RunRecord): void {
  writeRunRecord(folder, RECORD, record, {
    title: `${record.options.label}: training loss`,
    series: record.options.task,
    points: record.loss,
  });
}

/** Evaluation batches of the validation split, in order. */
function* chunks<T>(items: T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

/**
 * Validation metrics of a task. Pre-training: accuracy of masked colour and shape words (every such word of a
 * caption masked at once) with real vs zeroed visual features, over all of them and over those the image settles
 * (`settledByImage`). VQA: VQA accuracy overall and per answer type.
 * Grounding: the share of expressions whose best-scored RoI overlaps the referred box at IoU > 0.5. VCR:
 * @deformjs/metrics' `vcrAccuracy` (Q->A, QA->R given the right answer, and Q->AR: both right).
 */
export function evaluateTask(
  model: VLBert,
  data: VLData,
  tokenizer: WordPieceTokenizer,
  o: Pick<RunOptions, 'task' | 'maxText' | 'batch' | 'model'>,
): Record<string, unknown> {
  model.eval();
  const pad = tokenizer.id('[PAD]');
  const size = Math.max(o.batch, 16);
  if (o.task === 'pretrain') {
    const result: Record<string, number> = {};
    for (const [name, words] of [
      ['color', COLOR_WORDS],
      ['shape', SHAPE_WORDS],
    ] as const) {
      for (const visual of ['real', 'zeroed'] as const) {
        const all = { correct: 0, total: 0 };
        const settled = { correct: 0, total: 0 };
        for (const items of chunks(data.captions.val, size)) {
          const texts = items.map((item) => tokenizer.encode(item.caption, null, o.maxText));
          const examples = items.map((item, b) => {
            const { ids, labels } = maskSelectedWords(texts[b], tokenizer, (w) => words.has(w));
            const rows = regionRows(item, o);
            const { image, boxes } = item;
            return { image, boxes, ...rows, ids, segmentIds: texts[b].segmentIds, textLabels: labels };
          });
          const batch = collate(examples, data.imageSize, pad);
          const T = batch.textIds.shape[1]!;
          const predicted = tf.tidy(() => {
            const out = model.forward({ ...batch, visual });
            const [B, , H] = out.text.shape;
            return tf.argMax(model.cls.predictions.forward(tf.reshape(out.text, [B * T, H])), -1).dataSync();
          });
          batch.textLabels.forEach((label, i) => {
            if (label === IGNORE) return;
            const [b, t] = [Math.floor(i / T), i % T];
            const counts = [all];
            if (settledByImage(items[b], texts[b].ids.map(tokenizer.token.bind(tokenizer)), t, name))
              counts.push(settled);
            for (const c of counts) {
              c.total++;
              if (predicted[i] === label) c.correct++;
            }
          });
          disposeBatch(batch);
        }
        const rate = (c: typeof all) => (c.total > 0 ? c.correct / c.total : NaN);
        result[`${name}_${visual}`] = rate(all);
        result[`${name}_count`] = all.total;
        result[`${name}_settled_${visual}`] = rate(settled);
        result[`${name}_settled_count`] = settled.total;
      }
    }
    return result;
  }
  if (o.task === 'vqa') {
    const predictions: { question_id: number; answer: string }[] = [];
    for (const items of chunks(data.vqa.val, size)) {
      const examples = items.map((item) => vqaExample(item, tokenizer, o));
      const batch = collate(examples, data.imageSize, pad);
      const T = batch.textIds.shape[1]!;
      const best = tf.tidy(() =>
        tf
          .argMax(
            vqaLogits(
              model,
              batch,
              examples.map((e, b) => b * T + e.mask),
            ),
            -1,
          )
          .dataSync(),
      );
      items.forEach((item, b) => predictions.push({ question_id: item.questionId, answer: data.vqa.answers[best[b]] }));
      disposeBatch(batch);
    }
    const annotations = data.vqa.val.map((q) => ({
      question_id: q.questionId,
      answers: q.answers,
      answer_type: q.answerType,
      question_type: q.questionType,
    }));
    const r = evaluateVqa(annotations, predictions);
    return { overall: r.overall, perAnswerType: r.perAnswerType, questions: predictions.length };
  }
  if (o.task === 'vcr') {
    const predictions: VcrPrediction[] = [];
    for (const items of chunks(data.vcr.val, Math.max(1, size / 8))) {
      const batch = collate(
        items.flatMap((item) => vcrExamples(item, tokenizer, o)),
        data.imageSize,
        pad,
      );
      const best = tf.tidy(() => tf.argMax(vcrLogits(model, batch), -1).dataSync());
      items.forEach((_, q) => predictions.push({ answer: best[2 * q], rationale: best[2 * q + 1] }));
      disposeBatch(batch);
    }
    const labels = data.vcr.val.map((item) => ({ answer: item.answerLabel, rationale: item.rationaleLabel }));
    return { ...vcrAccuracy(predictions, labels), questions: labels.length };
  }
  let correct = 0;
  for (const items of chunks(data.refexp.val, size)) {
    const batch = collate(
      items.map((item) => refExample(item, tokenizer, o)),
      data.imageSize,
      pad,
    );
    const scores = tf.tidy(() => {
      const s = groundingScores(model, batch);
      return tf.add(s, tf.mul(tf.sub(batch.roiMask, 1), 1e9)).arraySync() as number[][];
    });
    items.forEach((item, b) => {
      const r = scores[b].indexOf(Math.max(...scores[b]));
      if (r < item.boxes.length && xyxyIou(item.boxes[r], item.box) > 0.5) correct++;
    });
    disposeBatch(batch);
  }
  return { accuracy: correct / data.refexp.val.length, expressions: data.refexp.val.length };
}
