/**
 * Summarises the DCNv2 ablation (`runs/ablation/<variant>-s<seed>/`: metrics.json from apps/detect's trainer,
 * analysis.json from scripts/sampling_analysis.ts) into the README's section between the `ablation:begin` and
 * `ablation:end` markers: the COCO numbers, training it/s and inference images/s as mean ± std over seeds, the
 * sampling-inside-mask shares, and the conditions (steps, load averages). Writes docs/ablation.svg (training loss,
 * mean over seeds, smoothed over 20 steps). Usage: npx tsx scripts/ablation_report.ts [runs/ablation]
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { lineChartSvg, writeFileAtomic, writeMarkedSection } from '@deformjs/core/node';
import { ABLATION_VARIANTS } from '../src/index';

interface Run {
  variant: string;
  seed: number;
  metrics: {
    config: { seed: number };
    loss: [number, number][];
    secondsTraining: number;
    cpuSecondsTraining: number;
    final?: { stats: number[] };
    segments: { options: { batchSize: number; lr: number; epochs: number } }[];
  };
  analysis: {
    inferImagesPerSec: number;
    loadavgBefore: string;
    loadavgAfter: string;
    lossTerms: Record<string, number>;
    detectionsPerImage: number;
    meanTopScore: number;
    samplingInsideMask: Record<'C3' | 'C4' | 'C5', { deformable: number; grid: number; objects: number }> | null;
  } | null;
  load: number[];
}

const dir = process.argv[2] ?? 'runs/ablation';
const runs: Run[] = [];
for (const name of readdirSync(dir)) {
  const match = /^(.+)-s(\d+)$/.exec(name);
  const metricsPath = join(dir, name, 'metrics.json');
  if (!match || !existsSync(metricsPath)) continue;
  const metrics = JSON.parse(readFileSync(metricsPath, 'utf8')) as Run['metrics'];
  if (!metrics.final) continue; // unfinished
  const analysisPath = join(dir, name, 'analysis.json');
  const analysis = existsSync(analysisPath)
    ? (JSON.parse(readFileSync(analysisPath, 'utf8')) as Run['analysis'])
    : null;
  // The analysis runs right after the training: its load averages stand for what the training ran under.
  const load = analysis ? [analysis.loadavgBefore, analysis.loadavgAfter].map((l) => Number(l.split(' ')[0])) : [];
  runs.push({ variant: match[1], seed: Number(match[2]), metrics, analysis, load });
}
if (runs.length === 0) throw new Error(`no finished run in ${dir}`);

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const std = (xs: number[]) =>
  xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean(xs)) ** 2, 0) / (xs.length - 1)) : 0;
const cell = (xs: number[], scale = 100, digits = 1) =>
  xs.length === 0
    ? '-'
    : xs.some((x) => x < 0)
      ? 'n/a'
      : `${(mean(xs) * scale).toFixed(digits)} ± ${(std(xs) * scale).toFixed(digits)}`;

const lines: string[] = [];
const steps = [...new Set(runs.map((r) => r.metrics.loss.length))];
const options = runs[0].metrics.segments[0].options;
lines.push(
  `${runs.length} runs of ${steps.join(' / ')} steps (batch ${options.batchSize}, lr ${options.lr}), mean ± std over the seeds listed; AP in %, COCOeval on the 80 validation images. Training it/s is the trainer's clock (evaluation and checkpoints left out); inference images/s from \`scripts/sampling_analysis.ts\` (batch 2, one wasm thread); load average (1 min) right after each training ${Math.min(...runs.flatMap((r) => r.load)).toFixed(1)}-${Math.max(...runs.flatMap((r) => r.load)).toFixed(1)}.`,
  '',
  '| variant | seeds | AP | AP50 | AP_S | AP_M | AP_L | train it/s | CPU s / step | infer img/s |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
);
const shareLines = ['| variant | seeds | conv3 (C3) | conv4 (C4) | conv5 (C5) |', '| --- | --- | --- | --- | --- |'];
const TERMS = [
  'loss_objectness',
  'loss_rpn_box_reg',
  'loss_classifier',
  'loss_box_reg',
  'loss_mimic',
  'loss_rcnn_cls',
] as const;
const termLines = [
  `| variant | seeds | ${TERMS.join(' | ')} | detections / image | top score |`,
  `| --- | --- | ${TERMS.map(() => '---').join(' | ')} | --- | --- |`,
];
const series = [];
let grid: Record<string, number[]> = {};
for (const [variant, label] of Object.entries(ABLATION_VARIANTS)) {
  const group = runs.filter((r) => r.variant === variant).sort((a, b) => a.seed - b.seed);
  if (group.length === 0) continue;
  const seeds = group.map((r) => r.seed).join(', ');
  const stat = (i: number) => group.map((r) => r.metrics.final!.stats[i]);
  const analysed = group.filter((r) => r.analysis);
  lines.push(
    `| ${label} | ${seeds} | ${cell(stat(0))} | ${cell(stat(1))} | ${cell(stat(3))} | ${cell(stat(4))} | ${cell(stat(5))} | ${cell(
      group.map((r) => r.metrics.loss.length / r.metrics.secondsTraining),
      1,
      2,
    )} | ${cell(
      group.map((r) => r.metrics.cpuSecondsTraining / r.metrics.loss.length),
      1,
      2,
    )} | ${cell(
      analysed.map((r) => r.analysis!.inferImagesPerSec),
      1,
      1,
    )} |`,
  );
  termLines.push(
    `| ${label} | ${analysed.map((r) => r.seed).join(', ')} | ${TERMS.map((t) =>
      cell(
        analysed.map((r) => r.analysis!.lossTerms[t]),
        1,
        3,
      ),
    ).join(' | ')} | ${cell(
      analysed.map((r) => r.analysis!.detectionsPerImage),
      1,
      1,
    )} | ${cell(
      analysed.map((r) => r.analysis!.meanTopScore),
      1,
      3,
    )} |`,
  );
  const sampled = group.filter((r) => r.analysis?.samplingInsideMask);
  if (sampled.length > 0) {
    const share = (stage: 'C3' | 'C4' | 'C5') =>
      cell(sampled.map((r) => r.analysis!.samplingInsideMask![stage].deformable));
    shareLines.push(
      `| ${label} | ${sampled.map((r) => r.seed).join(', ')} | ${share('C3')} | ${share('C4')} | ${share('C5')} |`,
    );
    grid = Object.fromEntries(
      (['C3', 'C4', 'C5'] as const).map((stage) => [
        stage,
        sampled.map((r) => r.analysis!.samplingInsideMask![stage].grid),
      ]),
    );
  }
  const length = Math.min(...group.map((r) => r.metrics.loss.length));
  const points: [number, number][] = [];
  for (let s = 19; s < length; s += 5)
    points.push([s + 1, mean(group.map((r) => mean(r.metrics.loss.slice(s - 19, s + 1).map(([, l]) => l))))]);
  series.push({ name: label, points });
}
if (grid.C3)
  shareLines.push(`| regular 3x3 grid (no offsets) | - | ${cell(grid.C3)} | ${cell(grid.C4)} | ${cell(grid.C5)} |`);

const section = [
  ...lines,
  '',
  'Share of the sampling weight inside the object mask, % (mean ± std over seeds; modulation-weighted for v2, every point weighs 1 for v1):',
  '',
  ...shareLines,
  '',
  "Loss terms of the trained models (training mode, the first 10 training batches without augmentation), detections above the 0.05 score threshold per validation image and the mean of each image's top score (mean ± std over seeds):",
  '',
  ...termLines,
  '',
  '![training loss of the ablation](https://github.com/deformjs/deformjs/raw/main/packages/dcnv2-rcnn/docs/ablation.svg)',
].join('\n');
writeMarkedSection(
  'README.md',
  '<!-- ablation:begin (written by scripts/ablation_report.ts from runs/ablation; do not edit by hand) -->',
  '<!-- ablation:end -->',
  section,
);
writeFileAtomic(
  'docs/ablation.svg',
  lineChartSvg({
    title: 'DCNv2 ablation on the shapes world: training loss (mean over seeds)',
    xLabel: 'step',
    yLabel: 'loss',
    series,
    logY: true,
  }),
);
console.log(section);
console.log('wrote README.md (ablation section) and docs/ablation.svg');
