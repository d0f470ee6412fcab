/**
 * The CNN study's README section (between `cnn:begin` and `cnn:end`) and docs/cnn-loss.svg. When runs/cnn exists
 * (scripts/cnn_study.ts), first collects the runs into docs/cnn-runs.json, which is committed; the section is
 * written from that file. Usage (in packages/attention): npx tsx scripts/cnn_report.ts
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { lineChartSvg, writeFileAtomic, writeMarkedSection } from '@deformjs/core/node';

interface RunRecord {
  variant: string;
  seed: number;
  steps: number;
  batch: number;
  parameters: number;
  trainCrops: number;
  valCrops: number;
  accuracy: number;
  msPerCrop: number;
  secondsTraining: number;
  cpuSecondsTraining: number;
  loadBefore: number[];
  loadAfter: number[];
  /** Training loss, averaged over windows of 10 steps. */
  loss: [number, number][];
}

const RUNS = 'runs/cnn';
const DATA = 'docs/cnn-runs.json';
/** Variants in table order (an array: object keys such as '1111' would be listed first). */
const VARIANTS: [string, string][] = [
  ['plain', 'plain'],
  ['0010', "attention '0010'"],
  ['1111', "attention '1111'"],
  ['dcn', 'DCN'],
  ['0010+dcn', "DCN + attention '0010'"],
];
const label = (variant: string) => VARIANTS.find(([v]) => v === variant)![1];
const WINDOW = 10;

if (existsSync(RUNS)) {
  const runs = readdirSync(RUNS)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(RUNS, f), 'utf8')) as RunRecord)
    .map((r) => ({ ...r, loss: windowMeans(r.loss) }));
  writeFileAtomic(DATA, `${JSON.stringify(runs)}\n`);
}
const runs = JSON.parse(readFileSync(DATA, 'utf8')) as RunRecord[];

function windowMeans(loss: [number, number][]): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < loss.length; i += WINDOW) {
    const w = loss.slice(i, i + WINDOW);
    out.push([w[w.length - 1][0], w.reduce((a, [, l]) => a + l, 0) / w.length]);
  }
  return out;
}

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
const std = (v: number[]) => Math.sqrt(mean(v.map((x) => (x - mean(v)) ** 2)));
const groups = VARIANTS.map(([variant]) => variant)
  .map((variant) => runs.filter((r) => r.variant === variant))
  .filter((g) => g.length > 0);
const plainCpu = mean(groups[0].map((r) => r.cpuSecondsTraining / r.steps));
const plainMs = mean(groups[0].map((r) => r.msPerCrop));
const loads = runs.flatMap((r) => [r.loadBefore[0], r.loadAfter[0]]);
const r0 = runs[0];

const lines = [
  `${runs.length} runs of ${r0.steps} steps (batch ${r0.batch}), mean ± std over the seeds listed; ` +
    `${r0.trainCrops} training and ${r0.valCrops} validation crops of 48 px. Accuracy: validation, in %. ` +
    'Train CPU s / step: CPU time of the training loop over its steps. Inference: wall ms per validation crop ' +
    '(batches of 128, one wasm thread). Both at a load average (1 min) of ' +
    `${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)} on 2 cores, shared with other jobs: ` +
    'the ratios to plain say more than the absolute times.',
  '',
  '| variant | seeds | accuracy | parameters | train CPU s / step (vs plain) | inference ms / crop (vs plain) |',
  '| --- | --- | --- | --- | --- | --- |',
  ...groups.map((g) => {
    const cpu = mean(g.map((r) => r.cpuSecondsTraining / r.steps));
    const ms = mean(g.map((r) => r.msPerCrop));
    const acc = g.map((r) => r.accuracy * 100);
    return (
      `| ${label(g[0].variant)} | ${g.map((r) => r.seed).join(', ')} | ${mean(acc).toFixed(1)} ± ${std(acc).toFixed(1)} | ` +
      `${g[0].parameters.toLocaleString('en-US')} | ${cpu.toFixed(2)} (${(cpu / plainCpu).toFixed(2)}x) | ` +
      `${ms.toFixed(1)} (${(ms / plainMs).toFixed(2)}x) |`
    );
  }),
  '',
  '![training loss](https://github.com/deformjs/deformjs/blob/main/packages/attention/docs/cnn-loss.svg)',
];

writeFileAtomic(
  'docs/cnn-loss.svg',
  lineChartSvg({
    title: `crop classifier: training loss (means of ${WINDOW} steps and of the seeds)`,
    xLabel: 'step',
    yLabel: 'cross-entropy',
    series: groups.map((g) => ({
      name: label(g[0].variant),
      points: g[0].loss.map(([step], i) => [step, mean(g.map((r) => r.loss[i][1]))] as const),
    })),
  }),
);

writeMarkedSection(
  'README.md',
  '<!-- cnn:begin (written by scripts/cnn_report.ts from docs/cnn-runs.json; do not edit by hand) -->',
  '<!-- cnn:end -->',
  lines.join('\n'),
);
