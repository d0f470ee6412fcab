import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BACKEND_NAMES, initBackend, type BackendName } from '@deformjs/core';
import { lineChartSvg, writeFileAtomic } from '@deformjs/core/node';
import { syntheticWorldTokenizer, type VLBertConfig } from '@deformjs/vl-bert';
import { decodeCheckpoint, readSafetensors } from '@deformjs/weights';
import { loadData, type DataOptions } from './data';
import { TASKS, buildModel, evaluateTask, runTask, type RunOptions, type RunRecord, type Task } from './train';

const USAGE = `vl-bert: VL-BERT pre-training, fine-tuning and evaluation on the synthetic shapes world (TensorFlow.js)

  node dist/cli.js pretrain  [--steps 300] [--out runs/pretrain]
                             MLM with visual clues + masked RoI classification (+ text-only MLM every 4th step);
                             then masked colour/shape-word accuracy with real vs zeroed visual features
  node dist/cli.js finetune  --task vqa|grounding [--init runs/pretrain/checkpoint.safetensors] [--steps 300]
                             then VQA accuracy (overall, per answer type) or grounding accuracy (IoU > 0.5)
  node dist/cli.js evaluate  --checkpoint <run>/checkpoint.safetensors
  node dist/cli.js compare   [--seeds 0,1,2] [--out runs/compare]
                             per seed: pre-train, then VQA and grounding fine-tuned from it and from scratch
                             with equal steps; results.md (mean and std) and results.json

data     --data runs/data (generated once)  --count 300 (training images per set)  --size 64 (generated side)
         --image-size 48 (model input side)  --data-seed 0
model    --hidden 64  --layers 2  --heads 4  --backbone-width 8  --frozen-backbone
training --steps 300 (per task; compare: --pretrain-steps for the pre-training run)  --batch 16  --lr 5e-4  --warmup 30  --text-only-every 4  --max-text 24
         --checkpoint-every 50  --seed 0  --fresh (discard <out>'s checkpoint)
common   --backend wasm|cpu|auto (default wasm)
Every run folder holds checkpoint.safetensors (resumed when present), run.json and loss.svg.`;

const OPTIONS = {
  task: { type: 'string' },
  init: { type: 'string' },
  checkpoint: { type: 'string' },
  out: { type: 'string' },
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
  steps: { type: 'string', default: '300' },
  'pretrain-steps': { type: 'string' },
  batch: { type: 'string', default: '16' },
  lr: { type: 'string', default: '5e-4' },
  warmup: { type: 'string', default: '30' },
  'text-only-every': { type: 'string', default: '4' },
  'max-text': { type: 'string', default: '24' },
  'checkpoint-every': { type: 'string', default: '50' },
  seed: { type: 'string', default: '0' },
  fresh: { type: 'boolean', default: false },
  backend: { type: 'string', default: 'wasm' },
  help: { type: 'boolean', default: false },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

function number(values: Values, name: keyof typeof OPTIONS, min: number): number {
  const raw = values[name] as string;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min) throw new Error(`--${name}: expected a number >= ${min}, got '${raw}'`);
  return value;
}

function modelConfig(values: Values, vocabSize: number, ids: { img: number; end: number }, seed: number): VLBertConfig {
  const hidden = number(values, 'hidden', 8);
  return {
    vocabSize,
    hiddenSize: hidden,
    numHiddenLayers: number(values, 'layers', 1),
    numAttentionHeads: number(values, 'heads', 1),
    intermediateSize: 2 * hidden,
    maxPositionEmbeddings: number(values, 'max-text', 4) + 2,
    backbone: { depth: 18, width: number(values, 'backbone-width', 1), feature: 'C3' },
    trainBackbone: !values['frozen-backbone'],
    roiSize: 2,
    geometryDim: 8,
    visualDim: hidden,
    imgTokenId: ids.img,
    endTokenId: ids.end,
    seed,
  };
}

function runOptions(
  values: Values,
  task: Task,
  out: string,
  model: VLBertConfig,
  seed: number,
  init?: string,
): RunOptions {
  return {
    task,
    out,
    model,
    steps: number(values, 'steps', 1),
    batch: number(values, 'batch', 1),
    lr: number(values, 'lr', 0),
    warmup: number(values, 'warmup', 0),
    textOnlyEvery: number(values, 'text-only-every', 0),
    ...(init ? { init } : {}),
    maxText: number(values, 'max-text', 4),
    checkpointEvery: number(values, 'checkpoint-every', 1),
    seed,
    fresh: values.fresh as boolean,
    label: `${task}${init ? ' (pre-trained)' : task === 'pretrain' ? '' : ' (scratch)'} seed ${seed}`,
  };
}

function summarize(record: RunRecord): string {
  return `${record.options.label}: ${JSON.stringify(record.evaluation)} (${record.secondsTraining.toFixed(0)} s training)`;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const std = (xs: number[]) =>
  xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1));
const cell = (xs: number[]) => `${(100 * mean(xs)).toFixed(1)} ± ${(100 * std(xs)).toFixed(1)}`;

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ options: OPTIONS, allowPositionals: true });
  const command = positionals[0];
  if (values.help || !command) {
    console.log(USAGE);
    return;
  }
  if (!(BACKEND_NAMES as readonly string[]).includes(values.backend as string))
    throw new Error(`--backend: expected one of ${BACKEND_NAMES.join(', ')}, got '${values.backend}'`);
  await initBackend(values.backend as BackendName);
  const tokenizer = syntheticWorldTokenizer();
  const ids = { img: tokenizer.id('[IMG]'), end: tokenizer.id('[END]') };
  const dataOptions: DataOptions = {
    dir: values.data as string,
    seed: number(values, 'data-seed', 0),
    count: number(values, 'count', 2),
    size: number(values, 'size', 32),
    imageSize: number(values, 'image-size', 16),
  };
  const seed = number(values, 'seed', 0);
  const loadAll = async () => {
    const data = await loadData(dataOptions);
    console.log(
      `data: ${data.captions.train.length} captions, ${data.vqa.train.length} questions (${data.vqa.answers.length} answers), ${data.refexp.train.length} expressions for training`,
    );
    return data;
  };

  if (command === 'pretrain' || command === 'finetune') {
    const task: Task = command === 'pretrain' ? 'pretrain' : (values.task as Task);
    if (!TASKS.includes(task) || (command === 'finetune' && task === 'pretrain'))
      throw new Error(`--task: expected vqa or grounding, got '${values.task}'`);
    const data = await loadAll();
    const out = (values.out as string | undefined) ?? join('runs', task);
    const record = await runTask(
      data,
      tokenizer,
      runOptions(
        values,
        task,
        out,
        modelConfig(values, tokenizer.vocabSize, ids, seed),
        seed,
        values.init as string | undefined,
      ),
    );
    console.log(summarize(record));
    return;
  }
  if (command === 'evaluate') {
    const path = values.checkpoint as string | undefined;
    if (!path) throw new Error('evaluate: --checkpoint <run>/checkpoint.safetensors is required');
    const bytes = new Uint8Array(readFileSync(path));
    const data = await loadAll();
    // The run's options (task, model config) are in the checkpoint's metadata: build that model, then load it.
    const config = JSON.parse(readSafetensors(bytes, path).metadata['deformjs.checkpoint']).config as RunOptions;
    const model = buildModel(config, data);
    decodeCheckpoint(bytes, { model }, path);
    console.log(`${config.label}: ${JSON.stringify(evaluateTask(model, data, tokenizer, config))}`);
    model.dispose();
    return;
  }
  if (command === 'compare') {
    const seeds = (values.seeds as string).split(',').map((s) => Number(s));
    if (seeds.some((s) => !Number.isInteger(s) || s < 0))
      throw new Error(`--seeds: expected integers like 0,1,2, got '${values.seeds}'`);
    const data = await loadAll();
    const root = (values.out as string | undefined) ?? 'runs/compare';
    const results: Record<string, RunRecord[]> = {};
    const add = (key: string, record: RunRecord) => {
      (results[key] ??= []).push(record);
      console.log(summarize(record));
    };
    for (const s of seeds) {
      const config = modelConfig(values, tokenizer.vocabSize, ids, s);
      const pretrainOut = join(root, `seed${s}`, 'pretrain');
      const pretrain = runOptions(values, 'pretrain', pretrainOut, config, s);
      if (values['pretrain-steps'] !== undefined) pretrain.steps = number(values, 'pretrain-steps', 1);
      add('pretrain', await runTask(data, tokenizer, pretrain));
      const init = join(pretrainOut, 'checkpoint.safetensors');
      for (const task of ['vqa', 'grounding'] as const) {
        add(
          `${task} pre-trained`,
          await runTask(
            data,
            tokenizer,
            runOptions(values, task, join(root, `seed${s}`, `${task}-pretrained`), config, s, init),
          ),
        );
        add(
          `${task} scratch`,
          await runTask(
            data,
            tokenizer,
            runOptions(values, task, join(root, `seed${s}`, `${task}-scratch`), config, s),
          ),
        );
      }
    }
    writeFileAtomic(join(root, 'results.json'), JSON.stringify(results, null, 1) + '\n');
    writeFileAtomic(join(root, 'results.md'), resultsTable(results, seeds));
    for (const task of ['vqa', 'grounding'] as const) {
      const series = [`${task} pre-trained`, `${task} scratch`].flatMap((key) =>
        results[key].map((r) => ({ name: `${key} ${r.options.seed}`, points: r.loss })),
      );
      writeFileAtomic(
        join(root, `${task}-loss.svg`),
        lineChartSvg({ title: `${task}: training loss`, xLabel: 'step', yLabel: 'loss', series, logY: true }),
      );
    }
    console.log(readFileSync(join(root, 'results.md'), 'utf8'));
    return;
  }
  throw new Error(`unknown command '${command}'\n\n${USAGE}`);
}

function resultsTable(results: Record<string, RunRecord[]>, seeds: number[]): string {
  const evals = (key: string) => results[key].map((r) => r.evaluation as Record<string, unknown>);
  const vqa = (key: string, type?: string) =>
    evals(key).map((e) => (type ? (e.perAnswerType as Record<string, number>)[type] : (e.overall as number)));
  const lines = [
    `Seeds ${seeds.join(', ')}; mean ± std in %, validation split.`,
    '',
    '| fine-tuned | VQA overall | yes/no | number | other | grounding (IoU > 0.5) |',
    '| --- | --- | --- | --- | --- | --- |',
    ...(['pre-trained', 'scratch'] as const).map(
      (init) =>
        `| ${init} | ${cell(vqa(`vqa ${init}`))} | ${cell(vqa(`vqa ${init}`, 'yes/no'))} | ${cell(vqa(`vqa ${init}`, 'number'))} | ${cell(vqa(`vqa ${init}`, 'other'))} | ${cell(evals(`grounding ${init}`).map((e) => e.accuracy as number))} |`,
    ),
    '',
    '| masked words (pre-trained model) | real visual features | zeroed visual features |',
    '| --- | --- | --- |',
    ...(['color', 'shape'] as const).map(
      (w) =>
        `| ${w} words | ${cell(evals('pretrain').map((e) => e[`${w}_real`] as number))} | ${cell(evals('pretrain').map((e) => e[`${w}_zeroed`] as number))} |`,
    ),
    '',
  ];
  return lines.join('\n');
}

main().catch((error: Error) => {
  console.error(error.message);
  process.exit(1);
});
