import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createProgress, lineChartSvg, writeFileAtomic } from '@deformjs/core/node';
import { DataLoader } from '@deformjs/datasets';
import { formatCocoSummary } from '@deformjs/metrics';
import { AdamW, linearWarmup, stepSchedule } from '@deformjs/nn';
import { decodeCheckpoint, encodeCheckpoint } from '@deformjs/weights';
import * as tf from '@tensorflow/tfjs-core';
import { paramGroups, trainStep } from '@deformjs/deformable-detr';
import { toModelInputs, type DetectionData } from './data';
import { drawDetections, evaluate } from './evaluate';
import { buildModel, type ModelSpec } from './model';

export interface TrainOptions {
  spec: ModelSpec;
  out: string;
  epochs: number;
  batchSize: number;
  lr: number;
  /** Multipliers of the backbone's and of sampling_offsets / reference_points' learning rates (paper: 0.1, 0.1). */
  lrBackbone: number;
  lrLinearProj: number;
  /** Freeze the backbone's stem and layer1 (upstream, with a pretrained backbone). */
  freezeStem: boolean;
  weightDecay: number;
  clipMaxNorm: number;
  warmupSteps: number;
  /** Epoch at whose start the learning rate drops 10x (paper: 40 of 50). */
  lrDropEpoch: number;
  checkpointEvery: number;
  /** Evaluate on the validation split after every epoch (AP per epoch), not only at the end. */
  evalEveryEpoch: boolean;
  drawCount: number;
  workers: number;
  seed: number;
  fresh: boolean;
  /** Printed before the progress bar. */
  label: string;
}

export interface Metrics {
  spec: ModelSpec;
  options: Omit<TrainOptions, 'spec'>;
  /** [step, loss] every step. */
  loss: [number, number][];
  /** [epoch, AP, AP50] after each evaluated epoch (1-based epochs). */
  ap: [number, number, number][];
  stepsPerEpoch: number;
  secondsTraining: number;
  final?: { stats: number[]; summary: string };
}

/**
 * The training loop: AdamW with upstream's parameter groups, linear warmup then a 10x drop, gradient clipping,
 * an atomic checkpoint every `checkpointEvery` steps and at every epoch end (resumed from `<out>/checkpoint.safetensors`
 * unless `fresh`), `metrics.json` and `loss.svg` kept current, AP per epoch if asked, and at the end the COCO
 * summary and drawn detections.
 */
export async function runTraining(data: DetectionData, o: TrainOptions): Promise<Metrics> {
  const checkpointPath = join(o.out, 'checkpoint.safetensors');
  const metricsPath = join(o.out, 'metrics.json');
  if (o.fresh) rmSync(o.out, { recursive: true, force: true });
  const { model, criterion, classification } = buildModel(o.spec);
  const groups = paramGroups(model, {
    backbone: o.lrBackbone,
    linearProj: o.lrLinearProj,
    freezeBackboneStem: o.freezeStem,
  });
  const variables = groups.flatMap((g) => g.params);
  const optimizer = new AdamW(groups, { lr: o.lr, weightDecay: o.weightDecay });
  const loader = new DataLoader(data.train.records, {
    batchSize: o.batchSize,
    transforms: data.trainTransforms,
    seed: o.seed,
    dropLast: true,
    workers: o.workers,
  });
  const stepsPerEpoch = loader.stepsPerEpoch;
  const totalSteps = o.epochs * stepsPerEpoch;
  const schedule = linearWarmup(
    stepSchedule(o.lr, [Math.max(0, o.lrDropEpoch * stepsPerEpoch - o.warmupSteps)]),
    o.warmupSteps,
  );
  const { spec, ...options } = o;
  let metrics: Metrics = { spec, options, loss: [], ap: [], stepsPerEpoch, secondsTraining: 0 };
  let step = 0;
  const noise = model.noise;
  if (existsSync(checkpointPath)) {
    const state = decodeCheckpoint(new Uint8Array(readFileSync(checkpointPath)), { model, optimizer }, checkpointPath);
    const saved = JSON.parse(readFileSync(metricsPath, 'utf8')) as Metrics;
    if (JSON.stringify(state.config) !== JSON.stringify(o.spec) || saved.stepsPerEpoch !== stepsPerEpoch) {
      throw new Error(
        `${checkpointPath} belongs to another model or dataset (${JSON.stringify(state.config)}, ${saved.stepsPerEpoch} steps/epoch); pass --fresh to start over or another --out`,
      );
    }
    noise.restore(state.rngStates.noise);
    step = state.step;
    metrics = {
      ...saved,
      loss: saved.loss.filter(([s]) => s < step),
      ap: saved.ap.filter(([e]) => e <= Math.floor(step / stepsPerEpoch)),
    };
    console.log(`resuming ${o.out} at step ${step} (epoch ${Math.floor(step / stepsPerEpoch) + 1})`);
  }
  const evalOptions = {
    records: data.val.records,
    groundTruth: data.valGroundTruth,
    categoryIds: data.categoryIds,
    classification,
    transforms: data.evalTransforms,
    batchSize: o.batchSize,
    workers: o.workers,
  };
  const save = () => {
    writeFileAtomic(
      checkpointPath,
      encodeCheckpoint({
        model,
        optimizer,
        step,
        epoch: Math.floor(step / stepsPerEpoch),
        rngs: { noise: noise.rng },
        config: o.spec,
      }),
    );
    writeFileAtomic(metricsPath, JSON.stringify(metrics, null, 1) + '\n');
    const series = [{ name: 'loss', points: metrics.loss }];
    writeFileAtomic(
      join(o.out, 'loss.svg'),
      lineChartSvg({ title: `${o.label}: training loss`, xLabel: 'step', yLabel: 'loss', series, logY: true }),
    );
  };

  console.log(
    `${o.label}: ${data.train.records.length} training images, ${stepsPerEpoch} steps/epoch x ${o.epochs} epochs, batch ${o.batchSize}`,
  );
  const progress = createProgress({ total: totalSteps, label: o.label });
  let started = performance.now();
  if (step < totalSteps) {
    for await (const batch of loader.batches({
      epoch: Math.floor(step / stepsPerEpoch),
      step: step % stepsPerEpoch,
      untilEpoch: o.epochs,
    })) {
      optimizer.lr = schedule(step);
      const inputs = toModelInputs(batch);
      const result = trainStep(model, criterion, optimizer, inputs, { clipMaxNorm: o.clipMaxNorm, variables });
      tf.dispose([inputs.images, inputs.mask]);
      step += 1;
      metrics.loss.push([step, result.loss]);
      progress.update(step, { loss: result.loss, lr: optimizer.lr });
      const epochEnd = step % stepsPerEpoch === 0;
      if (epochEnd && o.evalEveryEpoch) {
        metrics.secondsTraining += (performance.now() - started) / 1000;
        const { result: evalResult } = await evaluate(model, evalOptions);
        metrics.ap.push([step / stepsPerEpoch, evalResult.stats[0], evalResult.stats[1]]);
        process.stderr.write(
          `\n${o.label} epoch ${step / stepsPerEpoch}: AP ${evalResult.stats[0].toFixed(4)} AP50 ${evalResult.stats[1].toFixed(4)}\n`,
        );
        started = performance.now();
      }
      if (epochEnd || step % o.checkpointEvery === 0) save();
    }
    metrics.secondsTraining += (performance.now() - started) / 1000;
  }
  progress.done();
  await loader.close();
  const { result, detections } = await evaluate(model, evalOptions);
  metrics.final = { stats: result.stats, summary: formatCocoSummary(result) };
  save();
  await drawDetections(data.val.records, detections, o.out, o.drawCount);
  optimizer.dispose();
  model.dispose();
  return metrics;
}
