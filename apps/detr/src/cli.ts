import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BACKEND_NAMES, initBackend, type BackendName } from '@deformjs/core';
import { lineChartSvg, writeFileAtomic } from '@deformjs/core/node';
import { formatCocoSummary } from '@deformjs/metrics';
import { readSafetensors, decodeCheckpoint } from '@deformjs/weights';
import { loadDetectionData, type DataOptions } from './data';
import { drawDetections, evaluate } from './evaluate';
import {
  MODEL_KINDS,
  PRESETS,
  VARIANTS,
  buildModel,
  modelSpec,
  type ModelKind,
  type ModelSpec,
  type Preset,
  type Variant,
} from './model';
import { runTraining, type Metrics, type TrainOptions } from './train';

const USAGE = `detr: train and evaluate Deformable DETR and DETR (TensorFlow.js)

  pnpm start                        a short training of the small Deformable DETR from scratch on the
                                    synthetic shapes world, then its COCO AP (runs/start)
  node dist/cli.js train   [--model deformable|detr] [--variant multiscale|single-scale|refine|two-stage]
                           [--preset small|r50] [--epochs 12] [--out runs/train] ...
  node dist/cli.js eval    --checkpoint runs/train/checkpoint.safetensors [--draw 8]
  node dist/cli.js compare [--epochs 12] [--out runs/compare]
                           Deformable DETR and DETR with the same budget, AP after every epoch: the table
                           (epochs to reach DETR's final AP) and ap.svg

data     --coco <root> (COCO layout: annotations/instances_<split>.json, <split>/; default: shapes world)
         --train-split train  --val-split val  --resize 0 (shorter side; 0 = as stored)  --max-size 1333
         --size 128 (shapes: longest side)  --train-count 400  --val-count 80  --data-seed 0  --cache runs/data
training --batch 4  --lr 1e-3  --lr-backbone 0.1  --lr-linear-proj 0.1 (multipliers, as the paper)
         --freeze-stem (stem and layer1 fixed, as upstream with a pretrained backbone)
         --weight-decay 1e-4  --clip 0.1  --warmup 50 (steps)  --lr-drop <epoch> (default: 4/5 of --epochs)
         --checkpoint-every 200  --eval-every-epoch  --seed 0  --fresh (discard <out>'s checkpoint)
common   --backend wasm|cpu|auto (default wasm)  --workers 1 (decode threads)  --draw 8 (PNG detections)`;

const OPTIONS = {
  model: { type: 'string', default: 'deformable' },
  variant: { type: 'string', default: 'multiscale' },
  preset: { type: 'string', default: 'small' },
  epochs: { type: 'string', default: '12' },
  out: { type: 'string' },
  checkpoint: { type: 'string' },
  coco: { type: 'string' },
  'train-split': { type: 'string', default: 'train' },
  'val-split': { type: 'string', default: 'val' },
  resize: { type: 'string', default: '0' },
  'max-size': { type: 'string', default: '1333' },
  size: { type: 'string', default: '128' },
  'train-count': { type: 'string', default: '400' },
  'val-count': { type: 'string', default: '80' },
  'data-seed': { type: 'string', default: '0' },
  cache: { type: 'string', default: 'runs/data' },
  batch: { type: 'string', default: '4' },
  lr: { type: 'string', default: '1e-3' },
  'lr-backbone': { type: 'string', default: '0.1' },
  'lr-linear-proj': { type: 'string', default: '0.1' },
  'weight-decay': { type: 'string', default: '1e-4' },
  'freeze-stem': { type: 'boolean', default: false },
  clip: { type: 'string', default: '0.1' },
  warmup: { type: 'string', default: '50' },
  'lr-drop': { type: 'string' },
  'checkpoint-every': { type: 'string', default: '200' },
  'eval-every-epoch': { type: 'boolean', default: false },
  seed: { type: 'string', default: '0' },
  fresh: { type: 'boolean', default: false },
  backend: { type: 'string', default: 'wasm' },
  workers: { type: 'string', default: '1' },
  draw: { type: 'string', default: '8' },
  help: { type: 'boolean', default: false },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

function reader(values: Values) {
  const int = (name: keyof Values, min = 0): number => {
    const value = Number(values[name]);
    if (!Number.isInteger(value) || value < min)
      throw new Error(`detr: --${name} expects an integer >= ${min}, got ${JSON.stringify(values[name])}`);
    return value;
  };
  const num = (name: keyof Values, min = 0): number => {
    const value = Number(values[name]);
    if (!Number.isFinite(value) || value < min)
      throw new Error(`detr: --${name} expects a number >= ${min}, got ${JSON.stringify(values[name])}`);
    return value;
  };
  const oneOf = <T extends string>(name: keyof Values, allowed: readonly T[]): T => {
    const value = values[name] as T;
    if (!allowed.includes(value))
      throw new Error(`detr: --${name} expects one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
    return value;
  };
  return { int, num, oneOf };
}

function dataOptions(values: Values): DataOptions {
  const { int } = reader(values);
  return {
    coco: values.coco,
    trainSplit: values['train-split']!,
    valSplit: values['val-split']!,
    cache: values.cache!,
    size: int('size', 32),
    trainCount: int('train-count', 1),
    valCount: int('val-count', 1),
    dataSeed: int('data-seed'),
    resize: int('resize'),
    maxSize: int('max-size', 1),
  };
}

function trainOptions(
  values: Values,
  spec: ModelSpec,
  out: string,
  label: string,
  overrides: Partial<TrainOptions> = {},
): TrainOptions {
  const { int, num } = reader(values);
  const epochs = overrides.epochs ?? int('epochs', 1);
  return {
    spec,
    out,
    epochs,
    label,
    batchSize: int('batch', 1),
    lr: num('lr'),
    lrBackbone: num('lr-backbone'),
    lrLinearProj: num('lr-linear-proj'),
    freezeStem: values['freeze-stem']!,
    weightDecay: num('weight-decay'),
    clipMaxNorm: num('clip'),
    warmupSteps: int('warmup'),
    lrDropEpoch: values['lr-drop'] === undefined ? Math.max(1, Math.round((epochs * 4) / 5)) : int('lr-drop'),
    checkpointEvery: int('checkpoint-every', 1),
    evalEveryEpoch: values['eval-every-epoch']!,
    drawCount: int('draw'),
    workers: int('workers'),
    seed: int('seed'),
    fresh: values.fresh!,
    ...overrides,
  };
}

function printSummary(label: string, metrics: Metrics): void {
  console.log(
    `\n${label}: COCO bbox evaluation on the validation split (${metrics.secondsTraining.toFixed(0)} s of training)`,
  );
  console.log(metrics.final!.summary);
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({ allowPositionals: true, options: OPTIONS });
  const command = positionals[0];
  if (values.help || !['train', 'eval', 'compare'].includes(command)) {
    console.log(USAGE);
    if (!values.help) process.exitCode = 2;
    return;
  }
  const { int, oneOf } = reader(values);
  if (!(BACKEND_NAMES as readonly string[]).includes(values.backend!))
    throw new Error(
      `detr: --backend expects one of ${BACKEND_NAMES.join(', ')}, got ${JSON.stringify(values.backend)}`,
    );
  const backend = await initBackend(values.backend as BackendName);
  console.log(`backend: ${backend}`);

  if (command === 'eval') {
    if (!values.checkpoint) throw new Error('detr eval: --checkpoint <path> is required');
    const bytes = new Uint8Array(readFileSync(values.checkpoint));
    const meta = JSON.parse(readSafetensors(bytes, values.checkpoint).metadata['deformjs.checkpoint'] ?? 'null') as {
      config: ModelSpec;
    } | null;
    if (!meta) throw new Error(`detr eval: ${values.checkpoint} is not a training checkpoint of this app`);
    const data = await loadDetectionData(dataOptions(values));
    const { model, classification } = buildModel(meta.config);
    decodeCheckpoint(bytes, { model }, values.checkpoint);
    const { result, detections } = await evaluate(model, {
      records: data.val.records,
      groundTruth: data.valGroundTruth,
      categoryIds: data.categoryIds,
      classification,
      transforms: data.evalTransforms,
      batchSize: int('batch', 1),
      workers: int('workers'),
    });
    console.log(formatCocoSummary(result));
    const out = values.out ?? join(values.checkpoint, '..');
    const drawn = await drawDetections(data.val.records, detections, out, int('draw'));
    if (drawn.length) console.log(`drew detections on ${drawn.length} images in ${out}`);
    model.dispose();
    return;
  }

  const data = await loadDetectionData(dataOptions(values));
  const numClasses = data.categoryIds.length;
  if (command === 'compare') {
    const out = values.out ?? 'runs/compare';
    const epochs = int('epochs', 1);
    const runs: { name: string; metrics: Metrics }[] = [];
    for (const kind of ['deformable', 'detr'] as const) {
      const spec = modelSpec(
        kind,
        oneOf('preset', PRESETS),
        kind === 'deformable' ? oneOf('variant', VARIANTS) : 'multiscale',
        numClasses,
        int('seed'),
      );
      const name = kind === 'deformable' ? 'Deformable DETR' : 'DETR';
      runs.push({
        name,
        metrics: await runTraining(
          data,
          trainOptions(values, spec, join(out, kind), name, { evalEveryEpoch: true, epochs }),
        ),
      });
    }
    const [deformable, detr] = runs.map((r) => r.metrics);
    const detrFinal = detr.ap[detr.ap.length - 1][1];
    // An AP that rounds to zero is "not detecting yet": reaching it says nothing, so no ratio is claimed.
    const detecting = detrFinal >= 0.0005;
    const reached = detecting ? deformable.ap.find(([, ap]) => ap >= detrFinal) : undefined;
    const rows = Array.from(
      { length: epochs },
      (_, e) => `| ${e + 1} | ${fmt(deformable.ap[e]?.[1])} | ${fmt(detr.ap[e]?.[1])} |`,
    );
    const verdict = !detecting
      ? `DETR's AP is still ${fmt(detrFinal)} after ${epochs} epochs (it has not started detecting), so "epochs to reach DETR's final AP" is not measured; Deformable DETR ends at ${fmt(deformable.ap[deformable.ap.length - 1][1])}.`
      : `DETR's final AP (epoch ${epochs}): ${fmt(detrFinal)}. Deformable DETR reaches it at epoch ${reached ? `${reached[0]} (${(epochs / reached[0]).toFixed(1)}x fewer epochs)` : 'never (within the budget)'}.`;
    const table = [
      '| epoch | Deformable DETR AP | DETR AP |',
      '|---|---|---|',
      ...rows,
      '',
      `${verdict} Training time: Deformable DETR ${deformable.secondsTraining.toFixed(0)} s, DETR ${detr.secondsTraining.toFixed(0)} s.`,
    ].join('\n');
    writeFileAtomic(join(out, 'table.md'), table + '\n');
    writeFileAtomic(
      join(out, 'compare.json'),
      JSON.stringify(
        {
          epochs,
          detrFinalAp: detrFinal,
          epochsToReach: reached ? reached[0] : null,
          detrDetecting: detecting,
          runs: runs.map((r) => ({
            name: r.name,
            ap: r.metrics.ap,
            seconds: r.metrics.secondsTraining,
            final: r.metrics.final!.stats,
          })),
        },
        null,
        1,
      ) + '\n',
    );
    writeFileAtomic(
      join(out, 'ap.svg'),
      lineChartSvg({
        title: 'COCO AP on the shapes validation split',
        xLabel: 'epoch',
        yLabel: 'AP',
        series: runs.map((r) => ({ name: r.name, points: r.metrics.ap.map(([e, ap]) => [e, ap] as [number, number]) })),
      }),
    );
    console.log(`\n${table}\n\nwrote ${join(out, 'table.md')}, ${join(out, 'ap.svg')}`);
    return;
  }

  const kind = oneOf('model', MODEL_KINDS) as ModelKind;
  const spec = modelSpec(
    kind,
    oneOf('preset', PRESETS) as Preset,
    oneOf('variant', VARIANTS) as Variant,
    numClasses,
    int('seed'),
  );
  const out = values.out ?? 'runs/train';
  const label = kind === 'deformable' ? 'Deformable DETR' : 'DETR';
  const metrics = await runTraining(data, trainOptions(values, spec, out, label));
  printSummary(label, metrics);
  console.log(
    `\nAP ${fmt(metrics.final!.stats[0])}, AP50 ${fmt(metrics.final!.stats[1])}; metrics, loss curve, checkpoint and drawn detections in ${out}/`,
  );
}

function fmt(x: number | undefined): string {
  return x === undefined ? '-' : x.toFixed(3);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
