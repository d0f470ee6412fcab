/**
 * Summarises the ablation runs (`runs/ablation/*.json` from scripts/ablation.ts): prints the README's markdown table
 * (mean +- std over seeds of AP, AP50, AP_S, AP_M, AP_L, training it/s, inference images/s, and the share of
 * modulation-weighted sampling points inside the object masks) and writes docs/ablation.svg (training loss, mean
 * over seeds, smoothed over 10 steps). Usage: npx tsx scripts/ablation_report.ts [runs/ablation]
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { lineChartSvg, writeFileAtomic } from '@deformjs/core/node';
import { VARIANT_LABELS } from './variants';

interface Run {
  variant: string;
  seed: number;
  steps: number;
  batchSize: number;
  stats: number[];
  trainItPerSec: number;
  inferImagesPerSec: number;
  samplingInsideMask: { deformable: number; grid: number; objects: number } | null;
  loss: [number, number][];
}

const dir = process.argv[2] ?? 'runs/ablation';
const runs = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Run);

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const std = (xs: number[]) =>
  xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean(xs)) ** 2, 0) / (xs.length - 1)) : 0;
const cell = (xs: number[], scale = 100, digits = 1) =>
  xs.some((x) => x < 0) ? 'n/a' : `${(mean(xs) * scale).toFixed(digits)} ± ${(std(xs) * scale).toFixed(digits)}`;

console.log(
  '| variant | seeds | AP | AP50 | AP_S | AP_M | AP_L | train it/s | infer img/s | weight inside mask (grid) |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|');
const series = [];
for (const [variant, label] of Object.entries(VARIANT_LABELS)) {
  const group = runs.filter((r) => r.variant === variant).sort((a, b) => a.seed - b.seed);
  if (group.length === 0) continue;
  const stat = (i: number) => group.map((r) => r.stats[i]);
  const inside = group.filter((r) => r.samplingInsideMask);
  const share = inside.length
    ? `${cell(inside.map((r) => r.samplingInsideMask!.deformable))} % (${cell(inside.map((r) => r.samplingInsideMask!.grid))} %)`
    : '-';
  console.log(
    `| ${label} | ${group.map((r) => r.seed).join(', ')} | ${cell(stat(0))} | ${cell(stat(1))} | ${cell(stat(3))} | ${cell(stat(4))} | ${cell(stat(5))} | ${cell(
      group.map((r) => r.trainItPerSec),
      1,
      2,
    )} | ${cell(
      group.map((r) => r.inferImagesPerSec),
      1,
      2,
    )} | ${share} |`,
  );
  const steps = Math.min(...group.map((r) => r.loss.length));
  const points: [number, number][] = [];
  for (let s = 9; s < steps; s += 5) {
    points.push([s + 1, mean(group.map((r) => mean(r.loss.slice(s - 9, s + 1).map(([, l]) => l))))]);
  }
  series.push({ name: label, points });
}
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
console.log('wrote docs/ablation.svg');
