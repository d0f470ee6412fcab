import { statSync } from 'node:fs';
import { join } from 'node:path';
import { BACKEND_NAMES, initBackend } from '@deformjs/core';
import { UsageError, lineChartSvg, runCli, writeFileAtomic, type Flags } from '@deformjs/core/node';
import { formatCocoSummary } from '@deformjs/metrics';
import { RunFolder } from '@deformjs/weights/node';
import { loadDetector } from './checkpoint';
import { loadDetectionData, type DataOptions } from './data';
import { detectImages } from './detect';
import type { ConfigOptions, DetectorKind } from './detector';
import { DETECTORS, detectorKind } from './detectors';
import { drawDetections, evaluate } from './evaluate';
import { pretrainBackbone } from './pretrain';
import { ownedByTrainer, runTraining, type Metrics, type TrainOptions, type WritePoint } from './train';

const USAGE = `detect: train, evaluate, compare and run object detectors (TensorFlow.js)

  pnpm start                  11 epochs of the small two-stage Deformable DETR on the synthetic shapes world,
                              from the committed shapes-pretrained backbone, then its COCO AP (runs/start)
  detect train   [--model ${DETECTORS.map((d) => d.name).join('|')}] [--preset P] [--variant V]
                 [--epochs 12] [--out runs/train] [--fresh] ...   (run again to resume)
  detect eval    --checkpoint runs/train/checkpoint.safetensors [--draw 8]   (on the validation split)
  detect detect  --checkpoint <file> --images <folder of JPEG/PNG> [--out runs/detect] [--draw 8]
  detect compare [--models ${DETECTORS.map((d) => d.name).join(',')}] [--epochs 12] [--out runs/compare]
                 every detector with the same data and budget, AP after every epoch: table.md and ap.svg
  detect pretrain-backbone [--model M] [--preset P] [--steps 150] [--out runs/backbone.safetensors]
                 [--box-loss 0]
                 the detector's ResNet (batch norm) learns dense cell classes on the training images
                 (and, with --box-loss > 0, to name each object from a grid over its box);
                 load it with train --backbone-weights <file> (--batch as for train, lr 2e-3, warmup 20 unless given)

models   ${DETECTORS.map((d) => `${d.name} (presets ${d.presets.join(', ')}; variants ${d.variants.join(', ')})`).join('\n         ')}
data     --coco <root> (COCO layout: annotations/instances_<split>.json, <split>/; default: shapes world)
         --train-split train  --val-split val  --resize 0 (shorter side; 0 = as stored)  --max-size 1333
         --size 128 (shapes: longest side)  --train-count 400  --val-count 80  --data-seed 0  --cache runs/data
training --batch 4  --lr 1e-3  --lr-backbone 0.1  --lr-linear-proj 0.1 (multipliers; --lr-backbone 0 freezes
         the backbone: no backward pass through it; a detector's own recipe may change these defaults)  --freeze-stem  --weight-decay 1e-4  --clip 0.1  --warmup 50 (steps)
         --cls-loss-coef (classification loss weight; default the detector's: Deformable DETR 2, DETR 1)
         --lr-drop <epoch> (default: 4/5 of --epochs)  --checkpoint-every 200  --eval-every-epoch  --seed 0
         --fresh (discard the run in --out; refused if --out holds files the trainer did not write)
         --backbone-weights <file> (from pretrain-backbone)
model    --set field=value,... (the preset's configuration, e.g. numQueries=16,dropout=0,decLayers=2)
common   --backend wasm|cpu|auto (default wasm)  --workers 1 (decode threads)  --draw 8 (PNG detections)
         -h, --help  --version
exit     0 done, 1 runtime error, 2 usage error`;

const OPTIONS = {
  model: { type: 'string' },
  models: { type: 'string' },
  variant: { type: 'string' },
  preset: { type: 'string' },
  epochs: { type: 'string', default: '12' },
  out: { type: 'string' },
  checkpoint: { type: 'string' },
  images: { type: 'string' },
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
  lr: { type: 'string' },
  'lr-backbone': { type: 'string' },
  'lr-linear-proj': { type: 'string' },
  'weight-decay': { type: 'string' },
  'freeze-stem': { type: 'boolean', default: false },
  clip: { type: 'string' },
  warmup: { type: 'string' },
  'cls-loss-coef': { type: 'string' },
  'lr-drop': { type: 'string' },
  'checkpoint-every': { type: 'string', default: '200' },
  'eval-every-epoch': { type: 'boolean', default: false },
  seed: { type: 'string', default: '0' },
  fresh: { type: 'boolean', default: false },
  backend: { type: 'string', default: 'wasm' },
  workers: { type: 'string', default: '1' },
  draw: { type: 'string', default: '8' },
  set: { type: 'string' },
  'backbone-weights': { type: 'string' },
  steps: { type: 'string', default: '150' },
  'box-loss': { type: 'string', default: '0' },
} as const;

const COMMANDS = ['train', 'eval', 'detect', 'compare', 'pretrain-backbone'] as const;

/** The app's training defaults; a detector's `defaults` (its published recipe) override them, flags override both. */
const TRAIN_DEFAULTS = { lr: 1e-3, lrBackbone: 0.1, lrLinearProj: 0.1, weightDecay: 1e-4, clip: 0.1, warmup: 50 };

function dataOptions(
  flags: Flags,
  values: { coco?: string; cache: string; 'train-split': string; 'val-split': string },
): DataOptions {
  return {
    coco: values.coco,
    trainSplit: values['train-split'],
    valSplit: values['val-split'],
    cache: values.cache,
    size: flags.int('size', 32, 4096),
    trainCount: flags.int('train-count', 1, 1_000_000),
    valCount: flags.int('val-count', 1, 1_000_000),
    dataSeed: flags.int('data-seed'),
    resize: flags.int('resize', 0, 4096),
    maxSize: flags.int('max-size', 1, 8192),
  };
}

function trainOptions(flags: Flags, values: Record<string, unknown>, kind: DetectorKind): TrainOptions {
  const defaults = { ...TRAIN_DEFAULTS, ...kind.defaults };
  const num = (flag: string, key: keyof typeof defaults, integer = false) =>
    values[flag] === undefined ? defaults[key] : integer ? flags.int(flag) : flags.number(flag);
  const epochs = flags.int('epochs', 1, 100_000);
  return {
    epochs,
    batchSize: flags.int('batch', 1, 4096),
    lr: num('lr', 'lr'),
    lrBackbone: num('lr-backbone', 'lrBackbone'),
    lrLinearProj: num('lr-linear-proj', 'lrLinearProj'),
    freezeStem: values['freeze-stem'] as boolean,
    weightDecay: num('weight-decay', 'weightDecay'),
    clipMaxNorm: num('clip', 'clip'),
    warmupSteps: num('warmup', 'warmup', true),
    clsLossCoef: clsLossCoef(flags, values, kind),
    lrDropEpoch: flags.optionalInt('lr-drop') ?? Math.max(1, Math.round((epochs * 4) / 5)),
    checkpointEvery: flags.int('checkpoint-every', 1),
    evalEveryEpoch: values['eval-every-epoch'] as boolean,
    drawCount: flags.int('draw'),
    workers: flags.int('workers', 0, 64),
    seed: flags.int('seed'),
    backboneWeights: (values['backbone-weights'] as string | undefined) ?? null,
  };
}

/** `--cls-loss-coef`, else the detector's own weight; refused for a detector whose loss it cannot reweight. */
function clsLossCoef(flags: Flags, values: Record<string, unknown>, kind: DetectorKind): number | null {
  if (values['cls-loss-coef'] === undefined) return kind.clsLossCoef ?? null;
  if (kind.clsLossCoef === undefined) throw new UsageError(`detect: ${kind.label} takes no --cls-loss-coef`);
  return flags.number('cls-loss-coef', 0, 100);
}

/**
 * `--set numQueries=16,dropout=0,backbone.width=12`: fields of the preset's configuration replaced by numbers
 * or true/false. Only fields the configuration has can be set; the result passes the detector's own checks.
 */
function configOverrides(text: string | undefined): [string[], number | boolean][] {
  if (text === undefined) return [];
  return text.split(',').map((item) => {
    const match = /^([A-Za-z][\w.]*)=(.+)$/.exec(item.trim());
    const value = match ? (match[2] === 'true' ? true : match[2] === 'false' ? false : Number(match[2])) : NaN;
    if (!match || (typeof value === 'number' && !Number.isFinite(value)))
      throw new UsageError(
        `detect: --set expects field=number or field=true|false, comma-separated, got ${JSON.stringify(item)}`,
      );
    return [match[1].split('.'), value];
  });
}

function configured(kind: DetectorKind, options: ConfigOptions, overrides: [string[], number | boolean][]): unknown {
  const config = structuredClone(kind.config(options)) as Record<string, unknown>;
  for (const [path, value] of overrides) {
    let parent = config;
    for (const key of path.slice(0, -1)) parent = parent[key] as Record<string, unknown>;
    const last = path[path.length - 1];
    if (parent === null || typeof parent !== 'object' || !(last in parent) || typeof parent[last] === 'object')
      throw new UsageError(`detect: --set ${path.join('.')}: ${kind.label}'s configuration has no such number or flag`);
    parent[last] = value;
  }
  try {
    return kind.validate(config, '--set');
  } catch (error) {
    throw new UsageError(`detect: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function modelChoice(flags: Flags, values: { model?: string; preset?: string; variant?: string }, kind: DetectorKind) {
  return {
    preset: values.preset === undefined ? kind.presets[0] : flags.oneOf('preset', kind.presets),
    variant: values.variant === undefined ? kind.variants[0] : flags.oneOf('variant', kind.variants),
  };
}

function checkCache(cache: string, coco: string | undefined): void {
  if (!coco && statSync(cache, { throwIfNoEntry: false })?.isFile())
    throw new UsageError(`detect: --cache ${cache} is a file; the shapes world needs a folder`);
}

function fmt(x: number | undefined): string {
  return x === undefined ? '-' : x.toFixed(3);
}

/**
 * The command line, as a function returning the exit code (tests run it in-process). Every flag is read and
 * checked before the backend starts or any file is written. `onWritePoint` is for fault-injection tests.
 */
export function main(argv: string[], hooks: { onWritePoint?: (point: WritePoint) => void } = {}): Promise<number> {
  return runCli(
    { name: 'detect', usage: USAGE, packageJson: new URL('../package.json', import.meta.url), options: OPTIONS },
    argv,
    async ({ positionals, values, flags }) => {
      const command = positionals[0];
      if (!COMMANDS.includes(command as never) || positionals.length !== 1)
        throw new UsageError(
          `detect: expected one command (${COMMANDS.join(', ')}), got ${JSON.stringify(positionals)}`,
        );
      const backend = flags.oneOf('backend', BACKEND_NAMES);
      const workers = flags.int('workers', 0, 64);
      const draw = flags.int('draw');
      const batchSize = flags.int('batch', 1, 4096);

      if (command === 'detect') {
        if (!values.checkpoint) throw new UsageError('detect detect: --checkpoint <file> is required');
        if (!values.images) throw new UsageError('detect detect: --images <folder> is required');
        await initBackend(backend);
        const { detector, saved, kind } = loadDetector(values.checkpoint, { detector: values.model });
        try {
          const out = values.out ?? 'runs/detect';
          const { images, detections } = await detectImages(detector, saved, values.images, out, draw);
          console.log(`${kind.label}: ${detections} detections on ${images} images in ${join(out, 'results.json')}`);
        } finally {
          detector.model.dispose();
        }
        return;
      }

      const data = dataOptions(flags, values);
      checkCache(data.cache, data.coco);
      if (command === 'eval') {
        if (!values.checkpoint) throw new UsageError('detect eval: --checkpoint <file> is required');
        await initBackend(backend);
        const loaded = await loadDetectionData(data);
        const { detector } = loadDetector(values.checkpoint, {
          detector: values.model,
          numClasses: loaded.categoryIds.length,
        });
        try {
          const { result, detections } = await evaluate(detector, {
            records: loaded.val.records,
            groundTruth: loaded.valGroundTruth,
            categoryIds: loaded.categoryIds,
            transforms: loaded.evalTransforms,
            batchSize,
            workers,
          });
          console.log(formatCocoSummary(result));
          const out = values.out ?? join(values.checkpoint, '..');
          const folder = RunFolder.open(out, { program: 'eval', owns: ownedByTrainer });
          try {
            const drawn = await drawDetections(loaded.val.records, detections, out, draw);
            if (drawn.length) console.log(`drew detections on ${drawn.length} images in ${out}`);
          } finally {
            folder.release();
          }
        } finally {
          detector.model.dispose();
        }
        return;
      }

      const overrides = configOverrides(values.set);
      if (command === 'train' || command === 'pretrain-backbone') {
        const kind =
          values.model === undefined
            ? DETECTORS[0]
            : detectorKind(
                flags.oneOf(
                  'model',
                  DETECTORS.map((d) => d.name),
                ),
              );
        const choice = modelChoice(flags, values, kind);
        const options = trainOptions(flags, values, kind);
        // The class count is the data's, known once it is loaded; every other field is checked now.
        const configFor = (numClasses: number) =>
          configured(kind, { ...choice, numClasses, seed: options.seed }, overrides);
        configFor(1);
        if (options.backboneWeights !== null) {
          if (!kind.backbone) throw new UsageError(`detect: ${kind.label} takes no --backbone-weights`);
          if (!statSync(options.backboneWeights, { throwIfNoEntry: false })?.isFile())
            throw new UsageError(`detect: --backbone-weights ${options.backboneWeights} is not a file`);
        }
        if (command === 'pretrain-backbone') {
          if (!kind.backbone) throw new UsageError(`detect: ${kind.label} has no backbone to pretrain`);
          const steps = flags.int('steps', 1, 1_000_000);
          const boxLoss = flags.number('box-loss', 0, 100);
          const out = values.out ?? 'runs/backbone.safetensors';
          await initBackend(backend);
          const loaded = await loadDetectionData(data);
          const result = await pretrainBackbone(
            loaded.train,
            loaded.trainTransforms,
            {
              backbone: kind.backbone.shape(configFor(loaded.categoryIds.length)),
              out,
              steps,
              batchSize,
              lr: values.lr === undefined ? 2e-3 : options.lr,
              warmupSteps: values.warmup === undefined ? 20 : options.warmupSteps,
              seed: options.seed,
              workers,
              boxLoss,
            },
            { val: loaded.val, transforms: loaded.evalTransforms },
          );
          for (const [size, a] of Object.entries(result.accuracy ?? {}))
            console.log(
              `${a.objects} ${size} validation objects, the cell under the box centre (${Object.keys(a.right).join(' / ')}): their class ${Object.values(
                a.right,
              )
                .map((v) => v.toFixed(3))
                .join(' / ')}, not background ${Object.values(a.found)
                .map((v) => v.toFixed(3))
                .join(' / ')}, their class among the classes alone ${Object.values(a.shape)
                .map((v) => v.toFixed(3))
                .join(' / ')}${a.box === undefined ? '' : `; the box classifier names ${a.box.toFixed(3)}`}`,
            );
          console.log(
            `backbone pretrained in ${result.seconds.toFixed(0)} s (loss ${result.firstLoss.toFixed(3)} -> ${result.finalLoss.toFixed(3)}): ${out}`,
          );
          return;
        }
        const out = values.out ?? 'runs/train';
        const folder = RunFolder.open(out, { program: 'train', owns: ownedByTrainer, fresh: values.fresh });
        try {
          await initBackend(backend);
          const loaded = await loadDetectionData(data);
          const config = configFor(loaded.categoryIds.length);
          const metrics = await runTraining(loaded, options, { kind, config, folder, ...hooks });
          console.log(
            `\n${kind.label}: COCO bbox evaluation on the validation split (${metrics.secondsTraining.toFixed(0)} s of training)`,
          );
          console.log(metrics.final!.summary);
          console.log(
            `\nAP ${fmt(metrics.final!.stats[0])}, AP50 ${fmt(metrics.final!.stats[1])}; metrics, loss curve, checkpoint and drawn detections in ${out}/`,
          );
        } finally {
          folder.release();
        }
        return;
      }

      // compare
      const names = (values.models ?? DETECTORS.map((d) => d.name).join(',')).split(',');
      const kinds = names.map((name) => {
        if (!DETECTORS.some((d) => d.name === name))
          throw new UsageError(
            `detect: --models expects names among ${DETECTORS.map((d) => d.name).join(', ')}, got ${JSON.stringify(name)}`,
          );
        return detectorKind(name);
      });
      const out = values.out ?? 'runs/compare';
      const owns = (name: string) => ['table.md', 'compare.json', 'ap.svg'].includes(name) || names.includes(name);
      const folder = RunFolder.open(out, { program: 'compare', owns, fresh: values.fresh });
      try {
        const runs = kinds.map((kind) => {
          const choice = modelChoice(flags, { preset: values.preset }, kind);
          const options = { ...trainOptions(flags, values, kind), evalEveryEpoch: true };
          const configFor = (numClasses: number) =>
            configured(kind, { ...choice, numClasses, seed: options.seed }, overrides);
          configFor(1);
          return { kind, options, configFor };
        });
        await initBackend(backend);
        const loaded = await loadDetectionData(data);
        const results: { kind: DetectorKind; metrics: Metrics }[] = [];
        for (const { kind, options, configFor } of runs) {
          const sub = RunFolder.open(folder.path(kind.name), {
            program: 'compare',
            owns: ownedByTrainer,
            fresh: values.fresh,
          });
          try {
            const config = configFor(loaded.categoryIds.length);
            results.push({
              kind,
              metrics: await runTraining(loaded, options, { kind, config, folder: sub, ...hooks }),
            });
          } finally {
            sub.release();
          }
        }
        writeComparison(folder, results, flags.int('epochs', 1));
      } finally {
        folder.release();
      }
    },
  );
}

/**
 * table.md (AP per epoch per detector, and the epoch at which each first reaches the lowest final AP of all:
 * the convergence comparison), compare.json and ap.svg.
 */
function writeComparison(folder: RunFolder, results: { kind: DetectorKind; metrics: Metrics }[], epochs: number): void {
  const finals = results.map((r) => r.metrics.ap[r.metrics.ap.length - 1][1]);
  const level = Math.min(...finals);
  // An AP that rounds to zero is "not detecting yet": reaching it says nothing, so no epoch count is claimed.
  const detecting = level >= 0.0005;
  const reached = results.map((r) => (detecting ? (r.metrics.ap.find(([, ap]) => ap >= level)?.[0] ?? null) : null));
  const table = [
    `| epoch | ${results.map((r) => `${r.kind.label} AP`).join(' | ')} |`,
    `|---|${results.map(() => '---|').join('')}`,
    ...Array.from(
      { length: epochs },
      (_, e) => `| ${e + 1} | ${results.map((r) => fmt(r.metrics.ap[e]?.[1])).join(' | ')} |`,
    ),
    '',
    detecting
      ? `Epochs to reach AP ${fmt(level)} (the lowest final AP): ${results.map((r, i) => `${r.kind.label} ${reached[i]}`).join(', ')}.`
      : `The lowest final AP is ${fmt(level)} (not detecting yet), so no epochs-to-reach comparison is stated.`,
    `Training time: ${results.map((r) => `${r.kind.label} ${r.metrics.secondsTraining.toFixed(0)} s`).join(', ')}.`,
  ].join('\n');
  writeFileAtomic(folder.path('table.md'), table + '\n');
  writeFileAtomic(
    folder.path('compare.json'),
    JSON.stringify(
      {
        epochs,
        level: detecting ? level : null,
        runs: results.map((r, i) => ({
          detector: r.kind.name,
          ap: r.metrics.ap,
          epochsToReach: reached[i],
          seconds: r.metrics.secondsTraining,
          final: r.metrics.final!.stats,
        })),
      },
      null,
      1,
    ) + '\n',
  );
  writeFileAtomic(
    folder.path('ap.svg'),
    lineChartSvg({
      title: 'COCO AP on the validation split',
      xLabel: 'epoch',
      yLabel: 'AP',
      series: results.map((r) => ({
        name: r.kind.label,
        points: r.metrics.ap.map(([e, ap]) => [e, ap] as [number, number]),
      })),
    }),
  );
  console.log(`\n${table}\n\nwrote ${folder.path('table.md')}, ${folder.path('ap.svg')}`);
}
