/**
 * Writes the toy-scale tables into README.md from the eval reports that scripts/toy_tables.sh committed under
 * results/toy/seed<N>/, mean +- std over the seeds: part 1's speed/accuracy table (between the toy-table markers:
 * VID mAP all, by motion-IoU bin and by the generator's speed bin with the ground-truth count of each, fps,
 * milliseconds per frame and per component, key frames and recomputed positions) and the mAP-vs-fps table of the
 * mobile design against part 1's designs (between the mobile-table markers), with its plot results/toy/map_vs_fps.svg.
 *
 *   npx tsx scripts/table.ts
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { lineChartSvg, writeFileAtomic, writeMarkedSection } from '@deformjs/core/node';
import type { EvalReport } from '../src/evaluate';

const ROWS: [string, string][] = [
  ['per-frame', 'per-frame Faster R-CNN'],
  ['dff-k2', 'DFF, key interval 2'],
  ['dff-k5', 'DFF, key interval 5'],
  ['dff-k10', 'DFF, key interval 10'],
  ['fgfa-r2', 'FGFA, +-2 frames'],
  ['fgfa-r9', 'FGFA, +-9 frames'],
  ['unified-k10', 'unified, fixed keys (10)'],
  ['unified-adaptive', 'unified, adaptive keys'],
  ['unified-adaptive-tau0.6', 'unified, adaptive keys'],
  ['unified-adaptive-tau0.4', 'unified, adaptive keys'],
  ['unified-adaptive-tau0.2', 'unified, adaptive keys'],
];
const BINS = ['all', 'slow', 'medium', 'fast'];

const dir = new URL('..', import.meta.url).pathname;
const root = join(dir, 'results', 'toy');
const seeds = readdirSync(root)
  .filter((d) => /^seed\d+$/.test(d))
  .sort();
const reports = (name: string): EvalReport[] =>
  seeds.flatMap((seed) => {
    try {
      return [JSON.parse(readFileSync(join(root, seed, `${name}.json`), 'utf8')) as EvalReport];
    } catch {
      return [];
    }
  });

function stat(values: number[], digits: number): string {
  if (values.length === 0) return '-';
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, values.length - 1));
  return values.length > 1 ? `${mean.toFixed(digits)} ± ${std.toFixed(digits)}` : mean.toFixed(digits);
}

/** Milliseconds per frame of each component, mean +- std over the runs. */
const componentTimes = (runs: EvalReport[]) =>
  Object.keys(runs[0].components)
    .map(
      (c) =>
        `${c} ${stat(
          runs.map((r) => r.components[c]),
          0,
        )}`,
    )
    .join(', ');

/** mAP of one bin; a bin without ground truth (-1) is left out. */
const mAP = (r: EvalReport, key: 'ranges' | 'speedRanges', label: string) =>
  r[key]?.find((b) => b.label === label)?.mAP ?? -1;
const positives = (r: EvalReport | undefined, key: 'ranges' | 'speedRanges', label: string) =>
  r?.[key]?.find((b) => b.label === label)?.positives ?? 0;

const first = reports('per-frame')[0];
const header = [
  'design',
  'seeds',
  ...BINS.map((b) => `mAP ${b} (${positives(first, 'ranges', b)} gt)`),
  ...BINS.slice(1).map((b) => `by speed: ${b} (${positives(first, 'speedRanges', b)} gt)`),
  'fps',
  'ms / frame',
  'ms by component',
  'key frames',
  'recomputed',
];
const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
const loads: number[] = [];
for (const [name, label] of ROWS) {
  const runs = reports(name);
  if (runs.length === 0) continue;
  loads.push(...runs.map((r) => r.loadAverage));
  const bin = (key: 'ranges' | 'speedRanges', b: string) =>
    stat(
      runs.map((r) => mAP(r, key, b)).filter((v) => v >= 0),
      3,
    );
  const components = componentTimes(runs);
  const settings = Object.entries(runs[0].inference)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  lines.push(
    `| ${label}${settings ? ` (\`${settings}\`)` : ''} | ${runs.length} | ${BINS.map((b) => bin('ranges', b)).join(' | ')} | ${BINS.slice(
      1,
    )
      .map((b) => bin('speedRanges', b))
      .join(' | ')} | ${stat(
      runs.map((r) => r.fps),
      2,
    )} | ${stat(
      runs.map((r) => r.msPerFrame),
      0,
    )} | ${components} | ${stat(
      runs.map((r) => 100 * r.keyFrameFraction),
      0,
    )}% | ${
      runs[0].updatedFraction === undefined
        ? '-'
        : `${stat(
            runs.map((r) => 100 * (r.updatedFraction ?? 0)),
            0,
          )}%`
    } |`,
  );
}
lines.push(
  '',
  `Seeds ${seeds.map((s) => s.slice(4)).join(', ')}; times are wall milliseconds on the wasm backend at 1-minute load ${Math.min(...loads).toFixed(0)}-${Math.max(...loads).toFixed(0)} on 2 shared cores (compare rows, not absolute values).`,
);
const readme = join(dir, 'README.md');
writeMarkedSection(readme, '<!-- toy-table:start -->', '<!-- toy-table:end -->', lines.join('\n'));
console.log(lines.join('\n'));

// The mAP-vs-fps table: the mobile design at key intervals 1, 2, 5, 10 and two widths, its per-frame MobileNet
// detectors, and part 1's designs on the same data and budget.
const R18 = 'ResNet-18 w4, FlowNet-S w8';
const SPEED_ROWS: { name: string; label: string; model: string; series: string }[] = [
  { name: 'per-frame', label: 'per-frame', model: 'ResNet-18 w4', series: 'per-frame R18' },
  ...[2, 5, 10].map((k) => ({ name: `dff-k${k}`, label: `DFF, key interval ${k}`, model: R18, series: 'DFF' })),
  { name: 'fgfa-r2', label: 'FGFA, +-2 frames', model: R18, series: 'FGFA' },
  { name: 'unified-k10', label: 'unified, fixed keys (10)', model: R18, series: 'unified' },
  { name: 'unified-adaptive', label: 'unified, adaptive keys (tau 0.8)', model: R18, series: 'unified' },
  { name: 'per-frame-instance', label: 'per-frame', model: 'ResNet-18 w4 (instance norm)', series: 'per-frame R18 IN' },
  ...[2, 5, 10].map((k) => ({
    name: `dff-instance-k${k}`,
    label: `DFF, key interval ${k}`,
    model: `${R18} (instance norm)`,
    series: 'DFF IN',
  })),
  ...[4, 8].flatMap((w) => [
    {
      name: `per-frame-mobile-w${w}`,
      label: 'per-frame',
      model: `MobileNet w${w} (instance norm)`,
      series: `per-frame MobileNet w${w}`,
    },
    ...[1, 2, 5, 10].map((k) => ({
      name: `mobile-w${w}-k${k}`,
      label: `mobile, key interval ${k}`,
      model: `MobileNet w${w}, Light Flow w${w} (instance norm)`,
      series: `mobile w${w}`,
    })),
    // The same design before its training (toy_tables.sh mobile-init): what the design steps add or take away.
    ...[1, 10].map((k) => ({
      name: `mobile-init-w${w}-k${k}`,
      label: `mobile untrained, key interval ${k}`,
      model: `MobileNet w${w}, Light Flow w${w} (instance norm)`,
      series: `mobile w${w} untrained`,
    })),
    // Width 4 only: the design's 150 steps at lr 1e-4 instead of 1e-3 (toy_tables.sh mobile-lr).
    ...(w === 4 ? [1, 10] : []).map((k) => ({
      name: `mobile-lr1e-4-w${w}-k${k}`,
      label: `mobile, lr 1e-4, key interval ${k}`,
      model: `MobileNet w${w}, Light Flow w${w} (instance norm)`,
      series: `mobile w${w} lr 1e-4`,
    })),
  ]),
];
const threads = (runs: EvalReport[]) => {
  const counts = [...new Set(runs.map((r) => r.threads ?? 'not recorded'))];
  return counts.join(', ');
};
const speedLines = [
  '| design | networks | seeds | mAP all | fps | ms / frame | ms by component | wasm threads | load |',
  '|---|---|---|---|---|---|---|---|---|',
];
const points = new Map<string, [number, number][]>();
const speedLoads: number[] = [];
for (const row of SPEED_ROWS) {
  const runs = reports(row.name);
  if (runs.length === 0) continue;
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  const maps = runs.map((r) => mAP(r, 'ranges', 'all'));
  const fps = runs.map((r) => r.fps);
  const loadsOfRow = runs.map((r) => r.loadAverage);
  speedLoads.push(...loadsOfRow);
  const components = componentTimes(runs);
  speedLines.push(
    `| ${row.label} | ${row.model} | ${runs.length} | ${stat(maps, 3)} | ${stat(fps, 2)} | ${stat(
      runs.map((r) => r.msPerFrame),
      0,
    )} | ${components} | ${threads(runs)} | ${Math.min(...loadsOfRow).toFixed(0)}-${Math.max(...loadsOfRow).toFixed(0)} |`,
  );
  points.set(row.series, [...(points.get(row.series) ?? []), [mean(fps), mean(maps)]]);
}
speedLines.push(
  '',
  `Seeds ${seeds.map((s) => s.slice(4)).join(', ')}; mAP and fps are means over the seeds (the plot's points), wall times on the wasm backend at 1-minute load ${Math.min(...speedLoads).toFixed(0)}-${Math.max(...speedLoads).toFixed(0)} on 2 shared cores.`,
);
writeMarkedSection(readme, '<!-- mobile-table:start -->', '<!-- mobile-table:end -->', speedLines.join('\n'));
writeFileAtomic(
  join(root, 'map_vs_fps.svg'),
  lineChartSvg({
    title: 'Toy shapes videos: VID mAP against frames per second',
    xLabel: 'frames per second (wasm, Node)',
    yLabel: 'VID mAP (all)',
    series: [...points].map(([name, p]) => ({ name, points: p.sort((a, b) => a[0] - b[0]) })),
  }),
);
console.log(speedLines.join('\n'));

// Tracking with the trained per-frame detector: tracklet-conditioned scores against plain ones, the same association.
const TRACKING_ROWS: [string, string][] = [
  ['tracking-condition1', 'conditioned, default thresholds'],
  ['tracking-condition0', 'plain, default thresholds'],
  ['tracking-condition1-low', 'conditioned, low thresholds'],
  ['tracking-condition0-low', 'plain, low thresholds'],
  ['tracking-long-condition1', 'conditioned, default thresholds, 1500 + 300 steps'],
  ['tracking-long-condition0', 'plain, default thresholds, 1500 + 300 steps'],
  ['tracking-long-condition1-low', 'conditioned, low thresholds, 1500 + 300 steps'],
  ['tracking-long-condition0-low', 'plain, low thresholds, 1500 + 300 steps'],
];
const trackingLines = [
  '| scores (tracker thresholds) | seeds | MOTA | IDF1 | ID switches | false positives | false negatives | jitter | VID mAP all | settings |',
  '|---|---|---|---|---|---|---|---|---|---|',
];
for (const [name, label] of TRACKING_ROWS) {
  const runs = reports(name).filter((r) => r.tracking);
  if (runs.length === 0) continue;
  const of = (key: keyof NonNullable<EvalReport['tracking']>, digits: number) => {
    // A NaN (jitter without any pair) is stored as null: left out, and the seeds that had one are named.
    const values = runs.map((r) => r.tracking![key]).filter((v) => typeof v === 'number' && Number.isFinite(v));
    const partial = values.length > 0 && values.length < runs.length;
    return `${stat(values, digits)}${partial ? ` (${values.length} of ${runs.length} seeds)` : ''}`;
  };
  const settings = Object.entries(runs[0].inference)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  trackingLines.push(
    `| ${label} | ${runs.length} | ${of('mota', 3)} | ${of('idf1', 3)} | ${of('idSwitches', 1)} | ${of('falsePositives', 0)} | ${of('falseNegatives', 0)} | ${of('jitter', 4)} | ${stat(
      runs.map((r) => mAP(r, 'ranges', 'all')),
      3,
    )} | \`${settings}\` |`,
  );
}
writeMarkedSection(readme, '<!-- tracking-table:start -->', '<!-- tracking-table:end -->', trackingLines.join('\n'));
console.log(trackingLines.join('\n'));
