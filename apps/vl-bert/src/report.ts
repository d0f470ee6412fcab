import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { markdownTable, writeMarkedSection } from '@deformjs/core/node';

export const RESULTS_JSON = 'results.json';
export const RESULTS_MD = 'results.md';

/** One finished run of a compare folder (`seed<N>/<name>/run.json`), reduced to what the table needs. */
export interface CompareRun {
  seed: number;
  /** pretrain, vqa-pretrained, vqa-scratch, grounding-pretrained, ... */
  name: string;
  task: string;
  init: 'pre-trained' | 'scratch' | null;
  steps: number;
  batch: number;
  lr: number;
  warmup: number;
  /** Training items the run drew from (0: all; absent in older records). */
  trainItems: number;
  /** Pre-training's masking probability of colour and shape words (0.15, BERT's, in older records). */
  contentMask: number;
  maxText: number;
  model: {
    hiddenSize: number;
    numHiddenLayers: number;
    numAttentionHeads: number;
    backbone?: { width?: number };
    regionFeatureDim?: number;
    visualScaleInit?: number;
  };
  evaluation: Record<string, unknown>;
}

export interface CompareResults {
  root: string;
  runs: CompareRun[];
}

/** Reads every finished run (a run.json with an evaluation) of a compare folder, in seed and name order. */
export function readCompareRuns(root: string): CompareResults {
  if (!existsSync(root)) throw new Error(`report: ${root} does not exist`);
  const seeds = readdirSync(root)
    .filter((name) => /^seed\d+$/.test(name))
    .sort((a, b) => Number(a.slice(4)) - Number(b.slice(4)));
  const runs: CompareRun[] = [];
  for (const seedDir of seeds) {
    for (const name of readdirSync(join(root, seedDir)).sort()) {
      const file = join(root, seedDir, name, 'run.json');
      if (!existsSync(file)) continue;
      const record = JSON.parse(readFileSync(file, 'utf8')) as {
        options?: Record<string, unknown>;
        evaluation?: Record<string, unknown>;
      };
      const o = record.options;
      if (!o || typeof o.task !== 'string' || typeof o.seed !== 'number')
        throw new Error(`report: ${file} is not a run record of this app (no options.task / options.seed)`);
      if (!record.evaluation) continue; // not finished
      runs.push({
        seed: o.seed,
        name,
        task: o.task,
        init: o.task === 'pretrain' ? null : o.init ? 'pre-trained' : 'scratch',
        steps: o.steps as number,
        batch: o.batch as number,
        lr: o.lr as number,
        warmup: o.warmup as number,
        trainItems: (o.trainItems as number | undefined) ?? 0,
        contentMask: (o.contentMask as number | undefined) ?? 0.15,
        maxText: o.maxText as number,
        model: o.model as CompareRun['model'],
        evaluation: record.evaluation,
      });
    }
  }
  if (runs.length === 0)
    throw new Error(`report: no finished run (seed<N>/<run>/run.json with an evaluation) in ${root}`);
  return { root, runs };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
/** Sample standard deviation (n - 1), 0 for one value. */
const std = (xs: number[]) =>
  xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1));
const cell = (xs: number[]) =>
  xs.length === 0 ? '-' : `${(100 * mean(xs)).toFixed(1)} ± ${(100 * std(xs)).toFixed(1)}`;

const distinct = (xs: unknown[]) => [...new Set(xs.map((x) => JSON.stringify(x)))].join(' / ');

/**
 * The results table as markdown, mean ± std over seeds in %: VQA (overall and per answer type), grounding and
 * (when run) VCR-style choice fine-tuned from the pre-trained model vs from scratch, and masked colour/shape-word accuracy with real vs
 * zeroed visual features after pre-training; with the settings read from the records.
 */
export function resultsTable(results: CompareResults): string {
  const runs = (task: string, init: CompareRun['init']) =>
    results.runs.filter((r) => r.task === task && r.init === init);
  const metric = (task: string, init: CompareRun['init'], read: (e: Record<string, unknown>) => unknown) =>
    runs(task, init)
      .map((r) => read(r.evaluation))
      .filter((v): v is number => typeof v === 'number');
  const perType = (type: string) => (e: Record<string, unknown>) =>
    (e.perAnswerType as Record<string, number> | undefined)?.[type];
  const seeds = [...new Set(results.runs.map((r) => r.seed))];
  const pretrain = runs('pretrain', null);
  const finetune = results.runs.filter((r) => r.init !== null);
  const m = results.runs[0].model;
  // Records older than the words-the-image-settles split have no such rows.
  const settled = pretrain.some((r) => 'color_settled_real' in r.evaluation);
  const appearance = m.regionFeatureDim
    ? `the generator's precomputed ${m.regionFeatureDim}-wide region features`
    : `ResNet-18 width ${m.backbone?.width ?? '?'} + RoIAlign`;
  const items = distinct(finetune.map((r) => r.trainItems));
  const lines = [
    `Seeds ${seeds.join(', ')}; mean ± std (sample, n - 1) in %, validation split. Model: hidden ${m.hiddenSize}, ` +
      `${m.numHiddenLayers} layers, ${m.numAttentionHeads} heads; RoI appearance: ${appearance}; visual LayerNorm ` +
      `gain at init ${m.visualScaleInit ?? 0}; text up to ${distinct(results.runs.map((r) => r.maxText))} tokens. ` +
      `Pre-training ${distinct(pretrain.map((r) => r.steps))} steps, colour and shape words masked with probability ` +
      `${distinct(pretrain.map((r) => r.contentMask))} (other words 0.15), fine-tuning ` +
      `${distinct(finetune.map((r) => r.steps))} steps (each task) on ${items === '0' ? 'all' : `the first ${items}`} ` +
      `training items, batch ${distinct(results.runs.map((r) => r.batch))}, lr ${distinct(results.runs.map((r) => r.lr))}, ` +
      `warmup ${distinct(results.runs.map((r) => r.warmup))}.`,
    '',
    markdownTable(
      ['fine-tuned from', 'VQA overall', 'yes/no', 'number', 'other', 'grounding (IoU > 0.5)', 'runs'],
      (['pre-trained', 'scratch'] as const).map((init) => [
        init,
        cell(metric('vqa', init, (e) => e.overall)),
        cell(metric('vqa', init, perType('yes/no'))),
        cell(metric('vqa', init, perType('number'))),
        cell(metric('vqa', init, perType('other'))),
        cell(metric('grounding', init, (e) => e.accuracy)),
        `${runs('vqa', init).length} + ${runs('grounding', init).length}`,
      ]),
    ),
    ...(runs('vcr', 'pre-trained').length + runs('vcr', 'scratch').length === 0
      ? []
      : [
          '',
          markdownTable(
            ['fine-tuned from', 'VCR Q->A', 'QA->R', 'Q->AR', 'runs'],
            (['pre-trained', 'scratch'] as const).map((init) => [
              init,
              cell(metric('vcr', init, (e) => e.qa)),
              cell(metric('vcr', init, (e) => e.qar)),
              cell(metric('vcr', init, (e) => e.qToAr)),
              String(runs('vcr', init).length),
            ]),
          ),
        ]),
    '',
    markdownTable(
      ['masked words, after pre-training', 'real visual features', 'zeroed visual features', 'runs'],
      (settled ? (['color', 'color_settled', 'shape', 'shape_settled'] as const) : (['color', 'shape'] as const)).map(
        (w) => [
          `${w.startsWith('color') ? 'colour' : 'shape'} words${w.endsWith('settled') ? ' the image settles' : ''}`,
          cell(metric('pretrain', null, (e) => e[`${w}_real`])),
          cell(metric('pretrain', null, (e) => e[`${w}_zeroed`])),
          String(pretrain.length),
        ],
      ),
    ),
    '',
  ];
  return lines.join('\n');
}

export const README_START = '<!-- results:start (written by `vl-bert report`) -->';
export const README_END = '<!-- results:end -->';

/** Replaces what stands between the README's results markers with `table`. */
export function updateReadme(path: string, table: string): void {
  writeMarkedSection(path, README_START, README_END, table);
}
