import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BACKEND_NAMES, initBackend } from '@deformjs/core';
import { UsageError, lineChartSvg, runCli, writeFileAtomic, type Flags } from '@deformjs/core/node';
import { syntheticWorldTokenizer, type VLBertConfig, type WordPieceTokenizer } from '@deformjs/vl-bert';
import { RunFolder } from '@deformjs/weights/node';
import { REGION_FEATURE_DIM, loadData, type DataOptions, type VLData } from './data';
import { loadTrainedModel } from './checkpoint';
import { RESULTS_JSON, RESULTS_MD, readCompareRuns, resultsTable, updateReadme } from './report';
import { TASKS, evaluateTask, ownedByTrainer, runTask, type RunOptions, type RunRecord, type Task } from './train';

const USAGE = `vl-bert: VL-BERT pre-training, fine-tuning and evaluation on the synthetic shapes world (TensorFlow.js)

  vl-bert pretrain  [--steps 300] [--out runs/pretrain]
                    MLM with visual clues + masked RoI classification (+ text-only MLM every 4th step);
                    then masked colour/shape-word accuracy with real vs zeroed visual features
  vl-bert finetune  --task vqa|grounding|vcr [--init runs/pretrain/checkpoint.safetensors] [--steps 300]
                    then VQA accuracy (overall, per answer type), grounding accuracy (IoU > 0.5) or
                    VCR-style 4-way accuracies (Q->A, QA->R, Q->AR)
  vl-bert evaluate  --checkpoint <run>/checkpoint.safetensors
  vl-bert compare   [--seeds 0,1,2] [--out runs/compare]
                    per seed: pre-train, then VQA, grounding and VCR fine-tuned from it and from scratch
                    with equal steps; results.md (mean and std), results.json and the loss curves
  vl-bert report    --runs runs/compare [--readme README.md]
                    the results table (mean +- std over seeds) from a compare folder's run.json files,
                    written to <runs>/results.md and between the README's results markers

data     --data runs/data (generated once)  --count 300 (training images per set)  --size 64 (generated side)
         --image-size 48 (model input side)  --data-seed 0
model    --hidden 64  --layers 2  --heads 4  --backbone-width 8  --frozen-backbone
         --region-features (RoI appearance: the generator's precomputed region features, standing for a fixed
         detector's, instead of the ResNet + RoIAlign)  --visual-scale-init 0 (initial gain of the visual
         LayerNorms; upstream's 0 starts the visual feature embedding at zero)
training --steps 300 (per task; compare: --pretrain-steps for the pre-training run)  --batch 16  --lr 5e-4
         --warmup 30  --text-only-every 4  --max-text 32 (the longest caption is 29 tokens)  --checkpoint-every 50
         --seed 0  --content-mask 0.15 (pre-training: masking probability of colour and shape words; others 0.15)
         --finetune-items 0 (fine-tuning: train on the first n questions/expressions only; 0 all)
         --fresh (discard the run in --out; refused if --out holds files the trainer did not write)
common   --backend wasm|cpu|auto (default wasm)  -h, --help  --version
exit     0 done, 1 runtime error, 2 usage error
Every run folder holds checkpoint.safetensors (resumed when present: rerun the command), run.json and loss.svg.`;

const OPTIONS = {
  task: { type: 'string' },
  init: { type: 'string' },
  checkpoint: { type: 'string' },
  out: { type: 'string' },
  runs: { type: 'string' },
  readme: { type: 'string' },
  seeds: { type: 'string', default: '0,1,2' },
  data: { type: 'string', default: 'runs/data' },
  count: { type: 'string', default: '300' },
  size: { type: 'string', default: '64' },
  'image-size': { type: 'string', default: '48' },
  'data-seed': { type: 'string', default: '0' },
  hidden: { type: 'string', default: '64' },
  layers: { type: 'string', default: '2' },
  heads: { type: 'string', default: '4' },
  'backbone-width': { type: 'string', default: '8' },
  'frozen-backbone': { type: 'boolean', default: false },
  'region-features': { type: 'boolean', default: false },
  'finetune-items': { type: 'string', default: '0' },
  'visual-scale-init': { type: 'string', default: '0' },
  steps: { type: 'string', default: '300' },
  'pretrain-steps': { type: 'string' },
  batch: { type: 'string', default: '16' },
  lr: { type: 'string', default: '5e-4' },
  warmup: { type: 'string', default: '30' },
  'text-only-every': { type: 'string', default: '4' },
  'max-text': { type: 'string', default: '32' },
  'content-mask': { type: 'string', default: '0.15' },
  'checkpoint-every': { type: 'string', default: '50' },
  seed: { type: 'string', default: '0' },
  fresh: { type: 'boolean', default: false },
  backend: { type: 'string', default: 'wasm' },
} as const;

const COMMANDS = ['pretrain', 'finetune', 'evaluate', 'compare', 'report'] as const;
const FINETUNE_TASKS = TASKS.filter((t) => t !== 'pretrain');

function dataOptions(flags: Flags, dir: string): DataOptions {
  return {
    dir,
    seed: flags.int('data-seed'),
    count: flags.int('count', 2, 1_000_000),
    size: flags.int('size', 32, 4096),
    imageSize: flags.int('image-size', 16, 1024),
  };
}

/** The model for the synthetic-world tokenizer; `seed` varies per compared seed. */
function modelConfig(
  flags: Flags,
  visual: { frozen: boolean; regionFeatures: boolean },
  tokenizer: WordPieceTokenizer,
  seed: number,
): VLBertConfig {
  const hidden = flags.int('hidden', 8, 4096);
  return {
    vocabSize: tokenizer.vocabSize,
    hiddenSize: hidden,
    numHiddenLayers: flags.int('layers', 1, 48),
    numAttentionHeads: flags.int('heads', 1, hidden),
    intermediateSize: 2 * hidden,
    maxPositionEmbeddings: flags.int('max-text', 4, 512) + 2,
    backbone: { depth: 18, width: flags.int('backbone-width', 1, 256), feature: 'C3' },
    trainBackbone: !visual.frozen,
    regionFeatureDim: visual.regionFeatures ? REGION_FEATURE_DIM : 0,
    visualScaleInit: flags.number('visual-scale-init', 0, 10),
    roiSize: 2,
    geometryDim: 8,
    visualDim: hidden,
    imgTokenId: tokenizer.id('[IMG]'),
    endTokenId: tokenizer.id('[END]'),
    seed,
  };
}

/** Every training option, read (and so checked) from the flags. */
function trainingOptions(flags: Flags) {
  return {
    steps: flags.int('steps', 1, 10_000_000),
    batch: flags.int('batch', 1, 4096),
    lr: flags.number('lr'),
    warmup: flags.int('warmup'),
    textOnlyEvery: flags.int('text-only-every'),
    contentMask: flags.number('content-mask', 0, 1),
    maxText: flags.int('max-text', 4, 512),
    checkpointEvery: flags.int('checkpoint-every', 1),
  };
}

function label(task: Task, seed: number, init?: string): string {
  return `${task}${init ? ' (pre-trained)' : task === 'pretrain' ? '' : ' (scratch)'} seed ${seed}`;
}

function parseSeeds(text: string): number[] {
  const seeds = text.split(',').map((s) => (/^\d+$/.test(s.trim()) ? Number(s) : NaN));
  if (seeds.some((s) => !Number.isSafeInteger(s)))
    throw new UsageError(`vl-bert: --seeds expects integers like 0,1,2, got ${JSON.stringify(text)}`);
  return seeds;
}

function summarize(record: RunRecord): string {
  return `${record.options.label}: ${JSON.stringify(record.evaluation)} (${record.secondsTraining.toFixed(0)} s training)`;
}

/** Trains one run in its own folder, locked (and with `fresh` cleared) before any data is loaded. */
async function train(
  data: () => Promise<VLData>,
  tokenizer: WordPieceTokenizer,
  o: RunOptions,
  fresh: boolean,
  hooks: Hooks,
): Promise<RunRecord> {
  const folder = RunFolder.open(o.out, { program: `vl-bert ${o.task}`, owns: ownedByTrainer, fresh });
  try {
    const record = await runTask(await data(), tokenizer, o, folder, hooks);
    console.log(summarize(record));
    return record;
  } finally {
    folder.release();
  }
}

export interface Hooks {
  /** Runs after every checkpoint write (tests interrupt a run there to check the resume). */
  onCheckpoint?: (step: number) => void;
}

/**
 * The command line, as a function returning the exit code (tests run it in-process). Every flag is read and
 * checked before the backend starts or any file is written.
 */
export function main(argv: string[], hooks: Hooks = {}): Promise<number> {
  return runCli(
    { name: 'vl-bert', usage: USAGE, packageJson: new URL('../package.json', import.meta.url), options: OPTIONS },
    argv,
    async ({ positionals, values, flags }) => {
      const command = positionals[0] as (typeof COMMANDS)[number];
      if (!COMMANDS.includes(command) || positionals.length !== 1)
        throw new UsageError(
          `vl-bert: expected one command (${COMMANDS.join(', ')}), got ${JSON.stringify(positionals)}`,
        );

      if (command === 'report') {
        if (!values.runs) throw new UsageError('vl-bert report: --runs <compare folder> is required');
        const results = readCompareRuns(values.runs);
        const table = resultsTable(results);
        writeFileAtomic(join(values.runs, RESULTS_MD), table);
        if (values.readme) updateReadme(values.readme, table);
        console.log(table);
        return;
      }

      const backend = flags.oneOf('backend', BACKEND_NAMES);
      const data = dataOptions(flags, values.data);
      const tokenizer = syntheticWorldTokenizer();
      const seed = flags.int('seed');
      const visual = { frozen: values['frozen-backbone'], regionFeatures: values['region-features'] };
      const model = modelConfig(flags, visual, tokenizer, seed);
      const finetuneItems = flags.int('finetune-items', 0, 1_000_000_000);
      const training = trainingOptions(flags);
      const loadAll = async () => {
        await initBackend(backend);
        const loaded = await loadData(data);
        console.log(
          `data: ${loaded.captions.train.length} captions, ${loaded.vqa.train.length} questions (${loaded.vqa.answers.length} answers), ${loaded.refexp.train.length} expressions, ${loaded.vcr.train.length} VCR questions for training`,
        );
        return loaded;
      };

      if (command === 'evaluate') {
        if (!values.checkpoint) throw new UsageError('vl-bert evaluate: --checkpoint <file> is required');
        const loaded = await loadAll();
        const { model: trained, config } = loadTrainedModel(values.checkpoint, loaded, tokenizer);
        try {
          const evaluation = evaluateTask(trained, loaded, tokenizer, { ...config, batch: training.batch });
          console.log(`${config.label}: ${JSON.stringify(evaluation)}`);
        } finally {
          trained.dispose();
        }
        return;
      }

      if (command === 'pretrain' || command === 'finetune') {
        let task: Task = 'pretrain';
        if (command === 'finetune') {
          if (values.task === undefined)
            throw new UsageError(`vl-bert finetune: --task ${FINETUNE_TASKS.join('|')} is required`);
          task = flags.oneOf('task', FINETUNE_TASKS);
        } else if (values.init !== undefined) throw new UsageError('vl-bert pretrain: --init is for finetune');
        const out = values.out ?? join('runs', task);
        const trainItems = task === 'pretrain' ? 0 : finetuneItems;
        const options: RunOptions = {
          task,
          out,
          model,
          ...training,
          trainItems,
          seed,
          label: label(task, seed, values.init),
        };
        if (values.init) options.init = values.init;
        await train(loadAll, tokenizer, options, values.fresh, hooks);
        return;
      }

      // compare
      const seeds = parseSeeds(values.seeds);
      const pretrainSteps = flags.optionalInt('pretrain-steps', 1, 10_000_000) ?? training.steps;
      const root = values.out ?? 'runs/compare';
      const owns = (name: string) =>
        [RESULTS_JSON, RESULTS_MD, ...FINETUNE_TASKS.map((t) => `${t}-loss.svg`)].includes(name) ||
        /^seed\d+$/.test(name);
      const folder = RunFolder.open(root, { program: 'vl-bert compare', owns, fresh: values.fresh });
      try {
        const loaded = await loadAll();
        const cached = async () => loaded;
        for (const s of seeds) {
          const config = { ...model, seed: s };
          const run = (task: Task, name: string, init?: string): RunOptions => ({
            task,
            out: join(root, `seed${s}`, name),
            model: config,
            ...training,
            ...(task === 'pretrain' ? { steps: pretrainSteps, trainItems: 0 } : { trainItems: finetuneItems }),
            seed: s,
            label: label(task, s, init),
            ...(init ? { init } : {}),
          });
          await train(cached, tokenizer, run('pretrain', 'pretrain'), values.fresh, hooks);
          const init = join(root, `seed${s}`, 'pretrain', 'checkpoint.safetensors');
          for (const task of FINETUNE_TASKS) {
            await train(cached, tokenizer, run(task, `${task}-pretrained`, init), values.fresh, hooks);
            await train(cached, tokenizer, run(task, `${task}-scratch`), values.fresh, hooks);
          }
        }
        const results = readCompareRuns(root);
        writeFileAtomic(folder.path(RESULTS_JSON), JSON.stringify(results, null, 1) + '\n');
        const table = resultsTable(results);
        writeFileAtomic(folder.path(RESULTS_MD), table);
        for (const task of FINETUNE_TASKS) {
          const series = results.runs
            .filter((r) => r.task === task)
            .map((r) => ({ name: `${r.init} ${r.seed}`, points: readRecord(root, r.seed, r.name).loss }));
          writeFileAtomic(
            folder.path(`${task}-loss.svg`),
            lineChartSvg({ title: `${task}: training loss`, xLabel: 'step', yLabel: 'loss', series, logY: true }),
          );
        }
        console.log(table);
      } finally {
        folder.release();
      }
    },
  );
}

function readRecord(root: string, seed: number, name: string): RunRecord {
  return JSON.parse(readFileSync(join(root, `seed${seed}`, name, 'run.json'), 'utf8')) as RunRecord;
}
