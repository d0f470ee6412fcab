import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import type { Module } from '@deformjs/core';
import { createProgress } from '@deformjs/core/node';
import { ClipSampler } from '@deformjs/datasets';
import { AdamW, linearWarmup, optimizationStep, stepSchedule } from '@deformjs/nn';
import { decodeCheckpoint, loadWeights, readCheckpointModel } from '@deformjs/weights';
import {
  LOSS_PLOT,
  TrainingClock,
  readResumableCheckpoint,
  saveTrainingCheckpoint,
  writeRunRecord,
  type RunFolder,
  type WritePoint,
} from '@deformjs/weights/node';
import type { CheckpointConfig } from './checkpoint';
import { frameTensor, paddedSizeOf, TRAIN_TRANSFORMS, type VideoData } from './data';
import type { TrainingClip, VideoDesignKind } from './design';
import { evaluateDesign, type EvalReport } from './evaluate';

/** The options a training segment runs with (recorded in metrics.json for every segment). */
export interface TrainOptions {
  steps: number;
  lr: number;
  weightDecay: number;
  clipMaxNorm: number;
  warmupSteps: number;
  /** Step at which the learning rate drops 10x. */
  lrDropStep: number;
  checkpointEvery: number;
  seed: number;
  /** Checkpoints whose matching weights initialise the model before the first step (not on resume). */
  init: string[];
}

export interface RunOptions {
  kind: VideoDesignKind;
  config: unknown;
  folder: RunFolder;
  /** Evaluate on the validation videos at the end (default inference settings). */
  evaluate: boolean;
  /** Fault-injection tests stop the process at these points of a checkpoint write. */
  onWritePoint?: (point: WritePoint) => void;
}

export type { WritePoint };

/** The training record: saved inside every checkpoint (one atomic unit) and mirrored to metrics.json. */
export interface Metrics {
  design: string;
  config: unknown;
  /** What a resumed run must match: the design, its configuration and the training data. */
  fingerprint: { design: string; config: unknown; data: unknown };
  /** One entry per start of the trainer: from which step it ran, with which options. */
  segments: { fromStep: number; options: TrainOptions }[];
  /** [step, loss] for every step, each exactly once. */
  loss: [number, number][];
  secondsTraining: number;
  /** Process CPU seconds spent training (every thread): the time on an idle machine. */
  cpuSecondsTraining: number;
  /** The machine's 1-minute load average at each checkpoint: wall times mean little without it. */
  loadAverage: [number, number][];
  /** The validation report after the last step (default inference settings). */
  final?: EvalReport;
}

export const CHECKPOINT = 'checkpoint.safetensors';
export const METRICS = 'metrics.json';

/** The files `train` writes in `--out` (what `--fresh` may discard). */
export function ownedByTrainer(name: string): boolean {
  return [CHECKPOINT, METRICS, LOSS_PLOT].includes(name) || name.startsWith('eval');
}

/**
 * Loads into `model` every tensor of the checkpoints' models whose name it has (a per-frame checkpoint gives DFF
 * its detector: both keep it under `detector.`). A file that provides none of the model's weights is an error.
 */
export function initialiseFrom(model: Module, files: string[]): string[] {
  return files.map((file) => {
    const weights = readCheckpointModel(new Uint8Array(readFileSync(file)), file);
    const report = loadWeights(model, weights, { torchLayout: false });
    if (report.loaded.length === 0) throw new Error(`--init ${file}: none of its weights belong to this model`);
    return `${file}: ${report.loaded.length} tensors (${report.missing.length} of the model's left at their initial values)`;
  });
}

/**
 * The training loop, the same for every design: one clip per step from `ClipSampler` (the anchor and the design's
 * references, one augmentation), AdamW with linear warmup and a 10x drop, gradient clipping, a checkpoint (weights,
 * optimizer, generators, record: one atomic file) every `checkpointEvery` steps and at the end, resumed from the
 * folder when present; at the end the validation report.
 */
export async function runTraining(data: VideoData, o: TrainOptions, run: RunOptions): Promise<Metrics> {
  const { kind, folder } = run;
  const checkpointPath = folder.path(CHECKPOINT);
  const sampler = new ClipSampler(data.train, {
    references: kind.clip.references,
    range: kind.clip.range,
    transforms: TRAIN_TRANSFORMS,
    seed: o.seed,
  });
  const clipsPerEpoch = data.train.records.length;
  const fingerprint = { design: kind.name, config: run.config, data: data.fingerprint };
  let metrics: Metrics = {
    design: kind.name,
    config: run.config,
    fingerprint,
    segments: [],
    loss: [],
    secondsTraining: 0,
    cpuSecondsTraining: 0,
    loadAverage: [],
  };
  const resumed = readResumableCheckpoint<Metrics>(checkpointPath, fingerprint);
  const bytes = resumed?.bytes;
  if (resumed) metrics = resumed.record;

  const design = kind.build(run.config);
  const variables = design.model.trainableVariables();
  const optimizer = new AdamW([{ params: variables }], { lr: o.lr, weightDecay: o.weightDecay });
  try {
    let step = 0;
    if (bytes) {
      const state = decodeCheckpoint(bytes, { model: design.model, optimizer }, checkpointPath);
      design.restoreRngs(state.rngStates);
      step = state.step;
      console.log(`resuming ${folder.dir} at step ${step}`);
    } else {
      for (const line of initialiseFrom(design.model, o.init)) console.log(`initialised from ${line}`);
    }
    metrics.segments.push({ fromStep: step, options: o });
    writeRecord(folder, metrics, kind.label);
    const schedule = linearWarmup(stepSchedule(o.lr, [Math.max(0, o.lrDropStep - o.warmupSteps)]), o.warmupSteps);
    const save = () => {
      metrics.loadAverage.push([step, loadavg()[0]]);
      saveTrainingCheckpoint(
        checkpointPath,
        {
          model: design.model,
          optimizer,
          step,
          epoch: Math.floor(step / clipsPerEpoch),
          rngs: design.rngs(),
          config: { design: kind.name, config: run.config, classes: data.classes } satisfies CheckpointConfig,
          record: metrics,
        },
        () => writeRecord(folder, metrics, kind.label),
        run.onWritePoint,
      );
    };

    console.log(
      `${kind.label}: ${clipsPerEpoch} training frames in ${data.train.videos.length} videos, ${o.steps} steps of one clip (${kind.clip.references} references in [${kind.clip.range.join(', ')}])`,
    );
    const progress = createProgress({ total: o.steps, label: kind.label });
    const clock = new TrainingClock(metrics);
    while (step < o.steps) {
      const epoch = Math.floor(step / clipsPerEpoch);
      const spec = sampler.clips(epoch)[step % clipsPerEpoch];
      const clip = await sampler.load(spec);
      const { height, width } = clip.samples[0];
      const padded = paddedSizeOf(height, width);
      const anchor = clip.samples[0];
      const input: TrainingClip = {
        frames: clip.samples.map((s) => frameTensor(s, padded)),
        offsets: clip.offsets,
        imageSize: [height, width],
        target: { boxes: anchor.boxes, labels: anchor.labels, iscrowd: anchor.iscrowd },
        objects: clip.samples.map((s) => ({ boxes: s.boxes, trackIds: s.trackIds })),
      };
      optimizer.lr = schedule(step);
      step += 1;
      design.model.train();
      let result;
      try {
        result = optimizationStep(() => design.loss(input), variables, optimizer, o.clipMaxNorm);
      } finally {
        tf.dispose(input.frames);
      }
      const { loss } = result;
      if (!result.applied) throw new Error(`training diverged at step ${step} (loss ${loss})`);
      metrics.loss.push([step, loss]);
      progress.update(step, { loss, lr: optimizer.lr });
      if (step % o.checkpointEvery === 0 || step === o.steps) {
        clock.stop();
        save();
        clock.start();
      }
    }
    clock.stop();
    progress.done();
    if (run.evaluate) {
      metrics.final = await evaluateDesign(design, kind, data.val, {}, data.classes.length, data.valSpeeds);
      save();
    }
    return metrics;
  } finally {
    optimizer.dispose();
    design.model.dispose();
  }
}

/** metrics.json and the loss curve: views of the record, rebuilt from the checkpoint whenever they lag. */
function writeRecord(folder: RunFolder, metrics: Metrics, label: string): void {
  writeRunRecord(folder, METRICS, metrics, { title: `${label}: training loss`, series: 'loss', points: metrics.loss });
}
