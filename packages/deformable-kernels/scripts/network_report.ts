/**
 * The Deformable Kernels experiment's README section (between `network:begin` and `network:end`), its effective
 * receptive field images (docs/erf-<variant>.png, dk+dcn as dk-dcn, the ERF of scripts/train_classifier.ts averaged over the seeds)
 * and its training curves (docs/network-loss.svg), from the run outputs in results/network/.
 * Usage (in packages/deformable-kernels, after scripts/run_network.sh): npx tsx scripts/network_report.ts
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { lineChartSvg, writeFileAtomic, writeMarkedSection } from '@deformjs/core/node';
import { encodeImage } from '@deformjs/datasets';
import { DEPTHWISE_VARIANTS } from './network';

interface Run {
  variant: string;
  seed: number;
  steps: number;
  batch: number;
  lr: number;
  width: number;
  cropSize: number;
  trainCrops: number;
  valCrops: number;
  parameters: number;
  accuracy: number;
  losses: number[];
  secondsPerStep: number;
  cpuSecondsPerStep: number;
  loadAverage: number;
  erf: { images: number; size: [number, number]; values: number[] };
}

const RESULTS = 'results/network';
const runs: Run[] = readdirSync(RESULTS)
  .filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(readFileSync(join(RESULTS, f), 'utf8')) as Run);
if (runs.length === 0) throw new Error(`${RESULTS}: no runs (scripts/run_network.sh writes them)`);
const variants = DEPTHWISE_VARIANTS.filter((v) => runs.some((r) => r.variant === v));

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
const std = (v: number[]) => Math.sqrt(mean(v.map((x) => (x - mean(v)) ** 2)));
const pm = (v: number[], scale = 1, digits = 1) =>
  `${(mean(v) * scale).toFixed(digits)} ± ${(std(v) * scale).toFixed(digits)}`;

/** Root-mean-square distance of the gradient mass from its centroid, in input pixels: how far the ERF reaches. */
function erfSpread({ size: [, w], values }: Run['erf']): number {
  const total = values.reduce((a, b) => a + b, 0);
  let cy = 0;
  let cx = 0;
  values.forEach((v, i) => {
    cy += (v * Math.floor(i / w)) / total;
    cx += (v * (i % w)) / total;
  });
  let moment = 0;
  values.forEach((v, i) => (moment += (v * ((Math.floor(i / w) - cy) ** 2 + ((i % w) - cx) ** 2)) / total));
  return Math.sqrt(moment);
}

/** The fewest pixels that hold 90% of the gradient mass. */
function erfArea90({ values }: Run['erf']): number {
  const sorted = [...values].sort((a, b) => b - a);
  const total = sorted.reduce((a, b) => a + b, 0);
  let sum = 0;
  let count = 0;
  while (sum < 0.9 * total) sum += sorted[count++];
  return count;
}

/** The mean ERF of a variant's runs, each normalised to sum 1 first, as a grey PNG scaled `zoom` times. */
async function erfPng(group: Run[], zoom: number): Promise<Uint8Array> {
  const [h, w] = group[0].erf.size;
  const average = new Float64Array(h * w);
  for (const run of group) {
    const total = run.erf.values.reduce((a, b) => a + b, 0);
    run.erf.values.forEach((v, i) => (average[i] += v / total / group.length));
  }
  const peak = Math.max(...average);
  const data = new Uint8Array(h * zoom * w * zoom * 3);
  for (let y = 0; y < h * zoom; y++)
    for (let x = 0; x < w * zoom; x++) {
      const grey = Math.round((255 * average[Math.floor(y / zoom) * w + Math.floor(x / zoom)]) / peak);
      data.fill(grey, 3 * (y * w * zoom + x), 3 * (y * w * zoom + x) + 3);
    }
  return encodeImage({ data, width: w * zoom, height: h * zoom }, 'png');
}

/** The ERF image of a variant: docs/erf-<variant>.png, '+' spelled '-' so the name is a plain URL. */
const erfFile = (variant: string) => `docs/erf-${variant.replace('+', '-')}.png`;

const rows = [];
for (const variant of variants) {
  const group = runs.filter((r) => r.variant === variant).sort((a, b) => a.seed - b.seed);
  writeFileAtomic(erfFile(variant), await erfPng(group, 4));
  rows.push(
    `| ${variant} | ${group.map((r) => r.seed).join(', ')} | ${group[0].parameters} | ` +
      `${pm(
        group.map((r) => r.accuracy),
        100,
      )} | ${pm(group.map((r) => erfSpread(r.erf)))} | ${pm(
        group.map((r) => erfArea90(r.erf)),
        1,
        0,
      )} | ` +
      `${pm(
        group.map((r) => r.secondsPerStep),
        1000,
        0,
      )} | ${pm(
        group.map((r) => r.cpuSecondsPerStep),
        1000,
        0,
      )} | ${Math.min(...group.map((r) => r.loadAverage)).toFixed(1)}-${Math.max(...group.map((r) => r.loadAverage)).toFixed(1)} |`,
  );
}

const first = runs[0];
const budget = [...new Set(runs.map((r) => `${r.steps} steps of ${r.batch} crops, AdamW lr ${r.lr} cosine`))].join(
  '; ',
);
const lines = [
  `${runs.length} runs (${budget}), width ${first.width}, ${first.cropSize} x ${first.cropSize} crops: ` +
    `${first.trainCrops} for training, ${first.valCrops} for validation; mean ± std over the seeds listed. ` +
    'ERF: the gradient of the central unit of the last feature map (8 x 8) with respect to the input, in absolute ' +
    `value, averaged over ${first.erf.images} validation crops; spread = RMS distance of its mass from its centroid ` +
    '(pixels), area = the fewest pixels holding 90% of it. Times: wall and CPU milliseconds per training step on ' +
    'one wasm thread, at the 1-minute load averages given (2 shared cores), so compare them only roughly.',
  '',
  '| depthwise 3x3 | seeds | parameters | val accuracy % | ERF spread px | ERF 90% area px | ms / step | CPU ms / step | load |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ...rows,
  '',
  `| ${variants.join(' | ')} |`,
  `| ${variants.map(() => '---').join(' | ')} |`,
  `| ${variants
    .map(
      (v) =>
        `![ERF of ${v}](https://github.com/deformjs/deformjs/raw/main/packages/deformable-kernels/docs/erf-${v}.png)`,
    )
    .join(' | ')} |`,
  '',
  '![Training loss per variant](https://github.com/deformjs/deformjs/raw/main/packages/deformable-kernels/docs/network-loss.svg)',
];
writeMarkedSection(
  'README.md',
  '<!-- network:begin (written by scripts/network_report.ts from results/network; do not edit by hand) -->',
  '<!-- network:end -->',
  lines.join('\n'),
);

// Training loss, mean over seeds, smoothed over 10 steps so the variants can be told apart.
const smooth = (values: number[]) => values.map((_, i) => mean(values.slice(Math.max(0, i - 9), i + 1)));
writeFileAtomic(
  'docs/network-loss.svg',
  lineChartSvg({
    title: 'ShapesClassifier on shapes-world crops: training loss (mean over seeds, 10-step average)',
    xLabel: 'step',
    yLabel: 'cross-entropy',
    series: variants.map((variant) => {
      const group = runs.filter((r) => r.variant === variant);
      const curve = smooth(group[0].losses.map((_, step) => mean(group.map((r) => r.losses[step]))));
      return { name: variant, points: curve.map((loss, step) => [step, loss] as const) };
    }),
  }),
);
console.log(`README.md, docs/erf-*.png and docs/network-loss.svg from ${runs.length} runs`);
