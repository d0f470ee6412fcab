import { loadavg } from 'node:os';
import { createProgress } from '@deformjs/core/node';
import { DataLoader, type Batch } from '@deformjs/datasets';
import { formatCocoSummary } from '@deformjs/metrics';
import { AdamW, linearWarmup, optimizationStep, stepSchedule, type OptimizationStep } from '@deformjs/nn';
import { decodeCheckpoint } from '@deformjs/weights';
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
import type { DetectionData } from './data';
import type { Detector, DetectorKind } from './detector';
import { drawDetections, evaluate } from './evaluate';
import { loadBackboneWeights } from './pretrain';

/** The options a training segment runs with (recorded in metrics.json for every segment). */
export interface TrainOptions {
  epochs: number;
  batchSize: number;
  lr: number;
  lrBackbone: number;
  lrLinearProj: number;
  freezeStem: boolean;
  weightDecay: number;
  clipMaxNorm: number;
  warmupSteps: number;
  /** Weight of the classification loss (`--cls-loss-coef`; the detector's own unless given); null: not reweightable. */
  clsLossCoef: number | null;
  /** Epoch at whose start the learning rate drops 10x (paper: 40 of 50). */
  lrDropEpoch: number;
  checkpointEvery: number;
  /** Evaluate on the validation split after every epoch (AP per epoch), not only at the end. */
  evalEveryEpoch: boolean;
  drawCount: number;
  workers: number;
  seed: number;
  /** A `pretrain-backbone` file loaded into the detector's ResNet before the first step (not on resume). */
  backboneWeights: string | null;
}

/** What the trainer must be told besides the recorded options. */
export interface RunOptions {
  kind: DetectorKind;
  /** The detector's configuration (from `kind.config`). */
  config: unknown;
  /** The opened (locked) output folder. */
  folder: RunFolder;
  /** Fault-injection tests kill the process at these points of a checkpoint write. */
  onWritePoint?: (point: WritePoint) => void;
}

export type { WritePoint };

/** The training record: saved inside every checkpoint (one atomic unit) and mirrored to metrics.json. */
export interface Metrics {
  detector: string;
  config: unknown;
  /** What a resumed run must match: the detector's config, the training data and the batch size. */
  fingerprint: { detector: string; config: unknown; data: unknown; batchSize: number };
  /** One entry per start of the trainer: from which step it ran, with which options. */
  segments: { fromStep: number; options: TrainOptions }[];
  /** [step, loss] for every step, each exactly once. */
  loss: [number, number][];
  /** [epoch, AP, AP50] after each evaluated epoch (1-based epochs). */
  ap: [number, number, number][];
  stepsPerEpoch: number;
  secondsTraining: number;
  /** Process CPU seconds (user + system, every thread) spent training: the wall time on an idle core for a single-threaded backend. */
  cpuSecondsTraining: number;
  /** [epoch, training wall seconds so far] after each evaluated epoch. */
  epochSeconds: [number, number][];
  /** [epoch, training CPU seconds so far] after each evaluated epoch: the time it takes on an idle core. */
  epochCpuSeconds?: [number, number][];
  /** [epoch, the machine's 1-minute load average] after each evaluated epoch: wall times mean little without it. */
  loadAverage?: [number, number][];
  final?: { stats: number[]; summary: string };
}

export const CHECKPOINT = 'checkpoint.safetensors';
export const METRICS = 'metrics.json';

/** The files `train` writes in `--out` (what `--fresh` may discard). */
export function ownedByTrainer(name: string): boolean {
  return [CHECKPOINT, METRICS, LOSS_PLOT].includes(name) || /^detections-.+\.png$/.test(name);
}

export class DivergedError extends Error {}

/**
 * The training loop, the same for every detector: AdamW over the detector's parameter groups, linear warmup
 * then a 10x drop, gradient clipping, a checkpoint (weights, optimizer, generators and the training record in
 * one atomic file) every `checkpointEvery` steps and at every epoch end, resumed from `<out>` when present,
 * AP per epoch if asked, and at the end the COCO summary and drawn detections.
 */
export async function runTraining(data: DetectionData, o: TrainOptions, run: RunOptions): Promise<Metrics> {
  const { kind, folder } = run;
  const checkpointPath = folder.path(CHECKPOINT);
  const loader = new DataLoader(data.train.records, {
    batchSize: o.batchSize,
    transforms: data.trainTransforms,
    seed: o.seed,
    dropLast: true,
    workers: o.workers,
  });
  const stepsPerEpoch = loader.stepsPerEpoch;
  const fingerprint = { detector: kind.name, config: run.config, data: data.fingerprint, batchSize: o.batchSize };
  let metrics: Metrics = {
    detector: kind.name,
    config: run.config,
    fingerprint,
    segments: [],
    loss: [],
    ap: [],
    stepsPerEpoch,
    secondsTraining: 0,
    cpuSecondsTraining: 0,
    epochSeconds: [],
  };
  const resumed = readResumableCheckpoint<Metrics>(checkpointPath, fingerprint);
  const bytes = resumed?.bytes;
  if (resumed) metrics = resumed.record;

  const detector = kind.build(run.config, { clsLossCoef: o.clsLossCoef ?? undefined });
  const groups = detector.paramGroups(o);
  const variables = groups.flatMap((g) => g.params);
  const optimizer = new AdamW(groups, { lr: o.lr, weightDecay: o.weightDecay });
  try {
    let step = 0;
    if (bytes) {
      const state = decodeCheckpoint(bytes, { model: detector.model, optimizer }, checkpointPath);
      detector.restoreRngs(state.rngStates);
      step = state.step;
      console.log(`resuming ${folder.dir} at step ${step} (epoch ${Math.floor(step / stepsPerEpoch) + 1})`);
    } else if (o.backboneWeights) {
      if (!kind.backbone) throw new Error(`${kind.label} takes no --backbone-weights`);
      loadBackboneWeights(detector.model, kind.backbone.prefix, kind.backbone.shape(run.config), o.backboneWeights);
    }
    metrics.segments.push({ fromStep: step, options: o });
    // metrics.json mirrors the checkpoint's record: rewriting it now repairs a kill between the two writes.
    writeRecord(folder, metrics, kind.label);

    const totalSteps = o.epochs * stepsPerEpoch;
    const schedule = linearWarmup(
      stepSchedule(o.lr, [Math.max(0, o.lrDropEpoch * stepsPerEpoch - o.warmupSteps)]),
      o.warmupSteps,
    );
    const evalOptions = {
      records: data.val.records,
      groundTruth: data.valGroundTruth,
      categoryIds: data.categoryIds,
      transforms: data.evalTransforms,
      batchSize: o.batchSize,
      workers: o.workers,
    };
    const save = () =>
      saveTrainingCheckpoint(
        checkpointPath,
        {
          model: detector.model,
          optimizer,
          step,
          epoch: Math.floor(step / stepsPerEpoch),
          rngs: detector.rngs(),
          config: {
            detector: kind.name,
            config: run.config,
            classes: data.classes,
            categoryIds: data.categoryIds,
            detectTransforms: data.detectTransforms,
          } satisfies CheckpointConfig,
          record: metrics,
        },
        () => writeRecord(folder, metrics, kind.label),
        run.onWritePoint,
      );

    console.log(
      `${kind.label}: ${data.train.records.length} training images, ${stepsPerEpoch} steps/epoch x ${o.epochs} epochs, batch ${o.batchSize}`,
    );
    const progress = createProgress({ total: totalSteps, label: kind.label });
    const clock = new TrainingClock(metrics);
    if (step < totalSteps) {
      for await (const batch of loader.batches({
        epoch: Math.floor(step / stepsPerEpoch),
        step: step % stepsPerEpoch,
        untilEpoch: o.epochs,
      })) {
        optimizer.lr = schedule(step);
        step += 1;
        detector.model.train();
        let result: OptimizationStep;
        try {
          result = optimizationStep(() => detector.loss(batch), variables, optimizer, o.clipMaxNorm);
        } catch (error) {
          // A diverged model's NaN predictions fail inside the loss (the Hungarian matcher refuses NaN costs).
          if (predictsNaN(detector, batch)) diverged(step);
          throw error;
        }
        const { loss } = result;
        if (!result.applied) diverged(step, loss);
        metrics.loss.push([step, loss]);
        progress.update(step, { loss, lr: optimizer.lr });
        const epochEnd = step % stepsPerEpoch === 0;
        if (epochEnd && o.evalEveryEpoch) {
          clock.stop();
          const { result } = await evaluate(detector, evalOptions);
          metrics.ap.push([step / stepsPerEpoch, result.stats[0], result.stats[1]]);
          metrics.epochSeconds.push([step / stepsPerEpoch, metrics.secondsTraining]);
          (metrics.epochCpuSeconds ??= []).push([step / stepsPerEpoch, metrics.cpuSecondsTraining]);
          (metrics.loadAverage ??= []).push([step / stepsPerEpoch, loadavg()[0]]);
          process.stderr.write(
            `\n${kind.label} epoch ${step / stepsPerEpoch}: AP ${result.stats[0].toFixed(4)} AP50 ${result.stats[1].toFixed(4)}\n`,
          );
          clock.start();
        }
        if (epochEnd || step % o.checkpointEvery === 0) {
          clock.stop();
          save();
          clock.start();
        }
      }
    }
    progress.done();
    const { result, detections } = await evaluate(detector, evalOptions);
    metrics.final = { stats: result.stats, summary: formatCocoSummary(result) };
    save();
    await drawDetections(data.val.records, detections, folder.dir, o.drawCount);
    return metrics;
  } finally {
    await loader.close();
    optimizer.dispose();
    detector.model.dispose();
  }
}

/** Whether the detector's predictions on `batch` hold NaN or infinite scores or boxes. */
function predictsNaN(detector: Detector, batch: Batch): boolean {
  try {
    detector.model.eval();
    return detector
      .detect(batch)
      .some((d) => d.scores.some((v) => !Number.isFinite(v)) || d.boxes.some((v) => !Number.isFinite(v)));
  } catch {
    return false;
  }
}

function diverged(step: number, loss = NaN): never {
  throw new DivergedError(`training diverged at step ${step} (loss ${loss})`);
}

/** metrics.json and the loss curve: views of the record, rebuilt from the checkpoint whenever they lag. */
function writeRecord(folder: RunFolder, metrics: Metrics, label: string): void {
  writeRunRecord(folder, METRICS, metrics, { title: `${label}: training loss`, series: 'loss', points: metrics.loss });
}
