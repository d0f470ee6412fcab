import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { Conv2d, Linear, Module, Rng } from '@deformjs/core';
import { createProgress, writeFileAtomic } from '@deformjs/core/node';
import { DataLoader, type Batch, type CocoDataset, type TransformSpec } from '@deformjs/datasets';
import {
  AdamW,
  ResNet,
  cosineSchedule,
  linearWarmup,
  optimizationStep,
  roiAlign,
  type FeatureName,
} from '@deformjs/nn';
import type { BackboneConfig } from '@deformjs/deformable-detr';
import { readSafetensors, toTensor, writeSafetensors } from '@deformjs/weights';

export interface PretrainOptions {
  backbone: BackboneConfig;
  out: string;
  steps: number;
  batchSize: number;
  lr: number;
  warmupSteps: number;
  seed: number;
  workers: number;
  /** Weight of the box classifier's loss (naming each object from a grid over its box); 0: cells only. */
  boxLoss: number;
}

const LEVELS: FeatureName[] = ['C3', 'C4', 'C5'];
/** Levels the box classifier reads, and its RoIAlign grid per side. */
const BOX_LEVELS: FeatureName[] = ['C3', 'C4'];
const BOX_GRID = 3;
const METADATA_KEY = 'deformjs.backbone';

/**
 * The shapes world's stand-in for ImageNet pretraining: a ResNet with trainable batch norm learns to label
 * every cell of C3, C4 and C5 with the class of the smallest object whose box contains the cell's centre (or
 * background), one 1x1 classifier per level. Dense labels teach the stages where objects are; they teach the
 * shapes slowly (a cell inside a large shape sees no outline, and objects are a few percent of the cells).
 * With `boxClassifier`, a linear classifier also names each object from a 3 x 3 RoIAlign grid of C3 and C4
 * over its box: how the detectors read the features, sampled across the box.
 */
class DenseClassifier extends Module {
  readonly body: ResNet;
  readonly heads: Conv2d[];
  readonly boxHead: Linear | null;
  constructor(backbone: BackboneConfig, numClasses: number, seed: number, boxClassifier: boolean) {
    super();
    this.body = this.addModule('body', new ResNet({ ...backbone, norm: 'batch', returnFeatures: LEVELS, seed }));
    const rng = new Rng(seed + 1);
    this.heads = LEVELS.map((f) =>
      this.addModule(`head_${f}`, new Conv2d(rng, this.body.channels[f], numClasses + 1, 1)),
    );
    const pooled = BOX_LEVELS.reduce((sum, f) => sum + BOX_GRID * BOX_GRID * this.body.channels[f], 0);
    this.boxHead = boxClassifier ? this.addModule('box_head', new Linear(rng, pooled, numClasses)) : null;
  }

  /** Class logits [K, numClasses] of the boxes `rois` (rows: batch index, x1, y1, x2, y2 in pixels). */
  boxLogits(features: Partial<Record<FeatureName, tf.Tensor>>, rois: tf.Tensor2D): tf.Tensor {
    const grids = BOX_LEVELS.map((f) =>
      tf.reshape(
        roiAlign(features[f]!, rois, BOX_GRID, {
          spatialScale: 1 / this.body.strides[f],
          samplingRatio: 2,
          aligned: true,
        }),
        [rois.shape[0], -1],
      ),
    );
    return this.boxHead!.forward(tf.concat(grids, 1));
  }
}

/** Per level, each cell's label: 0 background, 1 + class of the smallest box containing its centre; -1 padding. */
export function cellLabels(batch: Batch, stride: number, h: number, w: number): Int32Array {
  const labels = new Int32Array(batch.batchSize * h * w);
  batch.targets.forEach((t, b) => {
    const [validH, validW] = t.size;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const [px, py] = [(x + 0.5) * stride, (y + 0.5) * stride];
        let label = px < validW && py < validH ? 0 : -1;
        let smallest = Infinity;
        for (let k = 0; k < t.labels.length && label >= 0; k++) {
          const [x1, y1, x2, y2] = t.boxesXyxy.subarray(4 * k, 4 * k + 4);
          const area = (x2 - x1) * (y2 - y1);
          if (px >= x1 && px <= x2 && py >= y1 && py <= y2 && area < smallest) {
            smallest = area;
            label = 1 + t.labels[k];
          }
        }
        labels[(b * h + y) * w + x] = label;
      }
    }
  });
  return labels;
}

/** Mean cross-entropy of logits [..., C] against labels, one per row (-1: not counted). */
function meanCrossEntropy(logits: tf.Tensor, labels: Int32Array): tf.Scalar {
  const c = logits.shape[logits.rank - 1]!;
  const valid = tf.tensor1d(Float32Array.from(labels, (v) => (v >= 0 ? 1 : 0)));
  const onehot = tf.oneHot(
    tf.tensor1d(
      Int32Array.from(labels, (v) => Math.max(v, 0)),
      'int32',
    ),
    c,
  );
  const nll = tf.neg(tf.sum(tf.mul(tf.logSoftmax(tf.reshape(logits, [-1, c])), onehot), 1));
  return tf.div(tf.sum(tf.mul(nll, valid)), tf.maximum(tf.sum(valid), 1));
}

/** The non-crowd objects of a batch: RoIAlign rows (batch index, x1, y1, x2, y2 in pixels) and classes. */
function boxRows(batch: Batch): { rois: tf.Tensor2D; labels: Int32Array } {
  const rows: number[] = [];
  const labels: number[] = [];
  batch.targets.forEach((t, b) => {
    t.labels.forEach((label, k) => {
      if (t.iscrowd[k]) return;
      rows.push(b, ...t.boxesXyxy.subarray(4 * k, 4 * k + 4));
      labels.push(label);
    });
  });
  return { rois: tf.tensor2d(rows, [labels.length, 5]), labels: Int32Array.from(labels) };
}

/**
 * Per object size (small: < 32^2 px, or larger) and level, the shares of the validation objects whose
 * centre cell's best label is their class (`right`), is not background (`found`), and whose class is the
 * best of the class logits alone (`shape`: what the features say about the shape once an object is there;
 * chance is 1 / classes).
 */
export type CellAccuracy = Record<
  'small' | 'larger',
  { objects: number } & Record<'right' | 'found' | 'shape', Record<string, number>> & {
      /** With the box classifier: the share it names right. */
      box?: number;
    }
>;

/**
 * Whether the pretrained features tell the classes apart where the detectors read them: on held-out images
 * (eval mode, the running statistics the detectors keep), what each level's 1x1 head says about the cell
 * under each non-crowd object's box centre. Reading only: the saved weights are those training left.
 */
async function cellAccuracy(
  model: DenseClassifier,
  val: CocoDataset,
  transforms: TransformSpec[],
  workers: number,
): Promise<CellAccuracy> {
  model.eval();
  const perLevel = () => Object.fromEntries(LEVELS.map((f) => [f, 0]));
  const tally = [0, 1].map(() => ({ objects: 0, box: 0, right: perLevel(), found: perLevel(), shape: perLevel() }));
  const loader = new DataLoader(val.records, { batchSize: 8, transforms, seed: 0, shuffle: false, workers });
  try {
    for await (const batch of loader.batches({ untilEpoch: 1 })) {
      const boxes = boxRows(batch);
      const { logits, named } = tf.tidy(() => {
        const images = tf.tensor4d(batch.images, [batch.batchSize, batch.height, batch.width, 3]);
        const features = model.body.forward(images);
        return {
          logits: LEVELS.map((f, l) => model.heads[l].forward(features[f]!)),
          named:
            model.boxHead && boxes.labels.length > 0
              ? tf.argMax(model.boxLogits(features, boxes.rois), 1)
              : tf.zeros([0], 'int32'),
        };
      });
      const maps = logits.map((t) => ({ data: t.dataSync(), h: t.shape[1]!, w: t.shape[2]!, c: t.shape[3]! }));
      const namedLabels = named.dataSync();
      tf.dispose([...logits, named, boxes.rois]);
      let row = 0;
      batch.targets.forEach((t, b) => {
        t.labels.forEach((label, k) => {
          if (t.iscrowd[k]) return;
          const [x1, y1, x2, y2] = t.boxesXyxy.subarray(4 * k, 4 * k + 4);
          const s = tally[(x2 - x1) * (y2 - y1) < 32 * 32 ? 0 : 1];
          s.objects += 1;
          if (row < namedLabels.length && namedLabels[row++] === label) s.box += 1;
          LEVELS.forEach((f, l) => {
            const { data, h, w, c } = maps[l];
            const stride = model.body.strides[f];
            const x = Math.min(w - 1, Math.floor((x1 + x2) / 2 / stride));
            const y = Math.min(h - 1, Math.floor((y1 + y2) / 2 / stride));
            const cell = Array.from(data.subarray(((b * h + y) * w + x) * c, ((b * h + y) * w + x + 1) * c));
            const best = cell.indexOf(Math.max(...cell));
            if (best === 1 + label) s.right[f] += 1;
            if (best > 0) s.found[f] += 1;
            if (cell.indexOf(Math.max(...cell.slice(1)), 1) === 1 + label) s.shape[f] += 1;
          });
        });
      });
    }
  } finally {
    await loader.close();
  }
  const shares = ({ objects, box, ...counts }: (typeof tally)[number]) => ({
    objects,
    ...(model.boxHead ? { box: box / Math.max(1, objects) } : {}),
    ...(Object.fromEntries(
      Object.entries(counts).map(([name, byLevel]) => [
        name,
        Object.fromEntries(Object.entries(byLevel).map(([f, n]) => [f, n / Math.max(1, objects)])),
      ]),
    ) as Record<'right' | 'found' | 'shape', Record<string, number>>),
  });
  return { small: shares(tally[0]), larger: shares(tally[1]) };
}

/**
 * Trains the dense classifier and saves its ResNet as a backbone state_dict (torchvision names and layouts,
 * float16; the running statistics are kept for FrozenBatchNorm2d, num_batches_tracked dropped).
 */
export async function pretrainBackbone(
  train: CocoDataset,
  transforms: TransformSpec[],
  o: PretrainOptions,
  validation?: { val: CocoDataset; transforms: TransformSpec[] },
): Promise<{ path: string; firstLoss: number; finalLoss: number; seconds: number; accuracy?: CellAccuracy }> {
  const numClasses = train.categories.length;
  const model = new DenseClassifier(o.backbone, numClasses, o.seed, o.boxLoss > 0);
  const variables = [...new Set(model.trainableVariables())];
  const optimizer = new AdamW(variables, { lr: o.lr, weightDecay: 1e-4 });
  const schedule = linearWarmup(cosineSchedule(o.lr, Math.max(1, o.steps - o.warmupSteps)), o.warmupSteps);
  const loader = new DataLoader(train.records, {
    batchSize: o.batchSize,
    transforms,
    seed: o.seed,
    dropLast: true,
    workers: o.workers,
  });
  const started = performance.now();
  const progress = createProgress({ total: o.steps, label: 'backbone pretraining' });
  model.train();
  let step = 0;
  let [firstLoss, finalLoss] = [NaN, NaN];
  try {
    for await (const batch of loader.batches({ untilEpoch: Math.ceil(o.steps / loader.stepsPerEpoch) })) {
      if (step >= o.steps) break;
      optimizer.lr = schedule(step);
      const images = tf.tensor4d(batch.images, [batch.batchSize, batch.height, batch.width, 3]);
      const boxes = boxRows(batch);
      const { loss } = optimizationStep(
        () => {
          const features = model.body.forward(images);
          const losses = LEVELS.map((f, l) => {
            const logits = model.heads[l].forward(features[f]!);
            const [, h, w] = logits.shape;
            return meanCrossEntropy(logits, cellLabels(batch, model.body.strides[f], h!, w!));
          });
          if (model.boxHead && boxes.labels.length > 0)
            losses.push(tf.mul(meanCrossEntropy(model.boxLogits(features, boxes.rois), boxes.labels), o.boxLoss));
          return { loss: tf.addN(losses) as tf.Scalar, components: {} };
        },
        variables,
        optimizer,
        0,
      );
      tf.dispose([images, boxes.rois]);
      if (!Number.isFinite(loss)) throw new Error(`backbone pretraining diverged at step ${step + 1} (loss ${loss})`);
      if (step === 0) firstLoss = loss;
      finalLoss = loss;
      step += 1;
      progress.update(step, { loss, lr: optimizer.lr });
    }
    progress.done();
    const seconds = (performance.now() - started) / 1000;
    const accuracy = validation && (await cellAccuracy(model, validation.val, validation.transforms, o.workers));
    const state = model.body.stateDict({ torchLayout: true });
    const kept = Object.fromEntries(Object.entries(state).filter(([k]) => !k.endsWith('num_batches_tracked')));
    writeFileAtomic(
      o.out,
      writeSafetensors(
        kept,
        { [METADATA_KEY]: JSON.stringify({ ...o, firstLoss, finalLoss, seconds, accuracy }) },
        { floatDtype: 'F16' },
      ),
    );
    tf.dispose(Object.values(state));
    return { path: o.out, firstLoss, finalLoss, seconds, accuracy };
  } finally {
    await loader.close();
    optimizer.dispose();
    model.dispose();
  }
}

/**
 * Loads a `pretrainBackbone` file into the ResNet under `prefix` of a detector (`backbone.0.body.` in both
 * DETRs): the file must be a backbone of that shape, every backbone tensor must be in it and every tensor of
 * it must land in the backbone.
 */
export function loadBackboneWeights(model: Module, prefix: string, backbone: BackboneConfig, path: string): void {
  const { tensors: stored, metadata } = readSafetensors(new Uint8Array(readFileSync(path)), path);
  const saved = metadata[METADATA_KEY] ? (JSON.parse(metadata[METADATA_KEY]) as Partial<PretrainOptions>) : null;
  if (!saved?.backbone) throw new Error(`${path}: not a backbone file of the pretrain-backbone command`);
  if (saved.backbone.depth !== backbone.depth || saved.backbone.width !== backbone.width)
    throw new Error(
      `${path}: a ResNet-${saved.backbone.depth} of width ${saved.backbone.width}, the detector's is ResNet-${backbone.depth} of width ${backbone.width}`,
    );
  const tensors = Object.fromEntries(Object.entries(stored).map(([k, v]) => [prefix + k, toTensor(v)]));
  try {
    const { missing, unexpected } = model.loadStateDict(tensors, { torchLayout: true, strict: false });
    const missingBackbone = missing.filter((k) => k.startsWith(prefix));
    if (missingBackbone.length > 0 || unexpected.length > 0)
      throw new Error(
        `${path}: not a backbone of this detector (missing [${missingBackbone.join(', ')}], unexpected [${unexpected.join(', ')}])`,
      );
  } finally {
    tf.dispose(Object.values(tensors));
  }
}
