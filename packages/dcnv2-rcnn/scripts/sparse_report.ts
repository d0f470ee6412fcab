/**
 * The spatially adaptive inference experiment's README section (between `sparse:begin` and `sparse:end`) and
 * docs/sparse.svg. When runs/sparse exists (scripts/run_study.sh sparse), first collects what the section needs from
 * each run (metrics.json of the trainer, sparse.json of scripts/sparse_analysis.ts) and the timing bench
 * (bench-results/sparse-detector.json of scripts/sparse_timing.ts) into docs/sparse-runs.json, which is
 * committed; the section is written from that file. Usage: npx tsx scripts/sparse_report.ts
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { lineChartSvg, writeFileAtomic, writeMarkedSection } from '@deformjs/core/node';
import { SPARSE_VARIANTS } from '../src/index';

interface RunRecord {
  variant: string;
  seed: number;
  ap: number;
  ap50: number;
  steps: number;
  secondsTraining: number;
  cpuSecondsTraining: number;
  backboneMacs: number;
  denseBackboneMacs: number;
  density1: number;
  density2: number;
  finalLoss: number;
}
interface Collected {
  runs: RunRecord[];
  timing: { case: string; oursMs: number }[];
  timingLoad: number[];
  timingRounds: number;
}

const RUNS = 'runs/sparse';
const DATA = 'docs/sparse-runs.json';

function collect(): Collected {
  const runs: RunRecord[] = [];
  for (const name of readdirSync(RUNS).sort()) {
    const match = /^(.+)-s(\d+)$/.exec(name);
    const metricsPath = join(RUNS, name, 'metrics.json');
    const analysisPath = join(RUNS, name, 'sparse.json');
    if (!match || !existsSync(metricsPath) || !existsSync(analysisPath)) continue;
    const metrics = JSON.parse(readFileSync(metricsPath, 'utf8'));
    const analysis = JSON.parse(readFileSync(analysisPath, 'utf8'));
    if (!metrics.final) continue;
    const loss = metrics.loss as [number, number][];
    runs.push({
      variant: match[1],
      seed: Number(match[2]),
      ap: metrics.final.stats[0],
      ap50: metrics.final.stats[1],
      steps: loss[loss.length - 1][0],
      secondsTraining: metrics.secondsTraining,
      cpuSecondsTraining: metrics.cpuSecondsTraining,
      backboneMacs: analysis.backboneMacs,
      denseBackboneMacs: analysis.denseBackboneMacs,
      density1: analysis.meanDensity1,
      density2: analysis.meanDensity2,
      finalLoss: loss.slice(-20).reduce((a, [, l]) => a + l, 0) / Math.min(20, loss.length),
    });
  }
  const bench = JSON.parse(readFileSync('bench-results/sparse-detector.json', 'utf8'));
  return {
    runs,
    timing: bench.rows.map((r: { case: string; oursMs: number }) => ({ case: r.case, oursMs: r.oursMs })),
    timingLoad: bench.loadAverage1mPerRound,
    timingRounds: bench.rounds,
  };
}

if (existsSync(RUNS)) writeFileAtomic(DATA, `${JSON.stringify(collect(), null, 2)}\n`);
const data = JSON.parse(readFileSync(DATA, 'utf8')) as Collected;

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
const std = (v: number[]) => Math.sqrt(mean(v.map((x) => (x - mean(v)) ** 2)));
const pm = (v: number[], scale = 1, digits = 1) =>
  `${(mean(v) * scale).toFixed(digits)} ± ${(std(v) * scale).toFixed(digits)}`;
const ms = (name: string) => data.timing.find((t) => t.case === name)?.oursMs ?? NaN;

const variants = Object.keys(SPARSE_VARIANTS).filter((v) => data.runs.some((r) => r.variant === v));
const dense = ms('r50-dense backbone');
const denseDetect = ms('r50-dense detect');
const rows = variants.map((variant) => {
  const runs = data.runs.filter((r) => r.variant === variant);
  const macs = runs.map((r) => r.backboneMacs / r.denseBackboneMacs);
  return { variant, runs, macs };
});
const loads = data.timingLoad;
const steps = [...new Set(data.runs.map((r) => r.steps))].join(', ');
const lines = [
  `${data.runs.length} runs of ${steps} steps; mean ± std over the seeds listed. AP in %, COCOeval on the 80 ` +
    'validation images. Sampled: the share of positions conv1 / conv2 compute, averaged over the bottlenecks and ' +
    'the validation images. Multiply-adds: the backbone (stem and bottlenecks, mask convs included, interpolation ' +
    'left out) counted from the sampled positions, relative to the dense ResNet-50. Times: the seed-0 models on one ' +
    `validation batch (2 images of 64 px, one wasm thread), median of ${data.timingRounds} interleaved rounds, load ` +
    `average (1 min) ${Math.min(...loads)}-${Math.max(...loads)}.`,
  '',
  '| backbone | seeds | AP | AP50 | sampled conv1 | sampled conv2 | backbone multiply-adds vs dense | backbone ms (vs dense) | detect ms (vs dense) | train CPU s / step |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ...rows.map(({ variant, runs, macs }) => {
    const b = ms(`${variant} backbone`);
    const d = ms(`${variant} detect`);
    return (
      `| ${SPARSE_VARIANTS[variant as keyof typeof SPARSE_VARIANTS]} | ${runs.map((r) => r.seed).join(', ')} | ` +
      `${pm(
        runs.map((r) => r.ap),
        100,
      )} | ${pm(
        runs.map((r) => r.ap50),
        100,
      )} | ` +
      `${pm(
        runs.map((r) => r.density1),
        100,
        0,
      )}% | ${pm(
        runs.map((r) => r.density2),
        100,
        0,
      )}% | ` +
      `${pm(macs, 1, 2)}x | ${b.toFixed(1)} (${(b / dense).toFixed(2)}x) | ${d.toFixed(1)} (${(d / denseDetect).toFixed(2)}x) | ` +
      `${pm(
        runs.map((r) => r.cpuSecondsTraining / r.steps),
        1,
        2,
      )} |`
    );
  }),
  '',
  '![AP against counted multiply-adds and measured backbone time](https://github.com/deformjs/deformjs/raw/main/packages/dcnv2-rcnn/docs/sparse.svg)',
];

writeMarkedSection(
  'README.md',
  '<!-- sparse:begin (written by scripts/sparse_report.ts from docs/sparse-runs.json; do not edit by hand) -->',
  '<!-- sparse:end -->',
  lines.join('\n'),
);

// The paper's trade-off curve at our scale: AP (mean over seeds) against multiply-adds and against backbone time.
writeFileAtomic(
  'docs/sparse.svg',
  lineChartSvg({
    title: 'Sparse vs dense ResNet-50 backbone (Faster R-CNN, shapes world, 64 px)',
    xLabel: 'relative to the dense backbone',
    yLabel: 'AP (%)',
    series: [
      {
        name: 'multiply-adds',
        points: rows
          .map(({ runs, macs }) => [mean(macs), 100 * mean(runs.map((r) => r.ap))] as const)
          .sort((a, b) => a[0] - b[0]),
      },
      {
        name: 'backbone time',
        points: rows
          .map(({ variant, runs }) => [ms(`${variant} backbone`) / dense, 100 * mean(runs.map((r) => r.ap))] as const)
          .sort((a, b) => a[0] - b[0]),
      },
    ],
  }),
);
console.log(lines.join('\n'));
