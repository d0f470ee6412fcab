/**
 * Writes the toy-scale speed/accuracy table into README.md (between the toy-table markers) from the eval reports
 * that scripts/toy_tables.sh committed under results/toy/seed<N>/: mean +- std over the seeds of VID mAP (all, and
 * by motion-IoU bin and by the generator's speed bin, with the ground-truth count of each), fps, milliseconds per
 * frame and per component, key frames and recomputed positions.
 *
 *   npx tsx scripts/table.ts
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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
  const components = Object.keys(runs[0].components)
    .map(
      (c) =>
        `${c} ${stat(
          runs.map((r) => r.components[c]),
          0,
        )}`,
    )
    .join(', ');
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
const text = readFileSync(readme, 'utf8');
const start = '<!-- toy-table:start -->';
const end = '<!-- toy-table:end -->';
if (!text.includes(start) || !text.includes(end)) throw new Error(`${readme} has no ${start} ... ${end} markers`);
writeFileSync(
  readme,
  text.slice(0, text.indexOf(start) + start.length) + '\n' + lines.join('\n') + '\n' + text.slice(text.indexOf(end)),
);
console.log(lines.join('\n'));
