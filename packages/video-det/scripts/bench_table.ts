/**
 * Writes the README's warp/aggregation benchmark table (between `bench:begin` and `bench:end`) from
 * bench-results/warp-aggregation.json (`pnpm bench`): per case our median time at one wasm thread, PyTorch's at 1
 * and 2 threads, and the median of the per-round ratios ours / PyTorch with their min-max.
 * Usage (in packages/video-det): npx tsx scripts/bench_table.ts
 */
import { readFileSync } from 'node:fs';
import { writeMarkedSection } from '@deformjs/core/node';

interface Row {
  case: string;
  ours: string;
  reference: string | null;
  oursMs: number;
  referenceMs: number | null;
  ratio: number | null;
  ratioMin: number | null;
  ratioMax: number | null;
}
const bench = JSON.parse(readFileSync('bench-results/warp-aggregation.json', 'utf8')) as {
  date: string;
  rounds: number;
  cpu: string;
  cores: number;
  loadAverage1mPerRound: number[];
  sides: string[];
  rows: Row[];
};
const loads = bench.loadAverage1mPerRound;
const threads = (label: string | null) => /(\d+)t\b/.exec(label ?? '')?.[1];
const referenceSides = bench.sides.filter((s) => s.startsWith('torch'));
if (referenceSides.length === 0) throw new Error('bench-results/warp-aggregation.json has no PyTorch side');
const lines = [
  `${bench.rounds} interleaved rounds on ${bench.cpu} (${bench.cores} cores), ${bench.date.slice(0, 10)}, ` +
    `load average (1 min) ${Math.min(...loads)}-${Math.max(...loads)}; ours at one wasm thread, ` +
    `${referenceSides.join(' and ')} with OMP_WAIT_POLICY=PASSIVE. Ratio = ours / PyTorch, median of the ` +
    'per-round ratios (min-max); below 1 we are faster. Times are medians in ms, inflated by the load.',
  '',
  `| case | ours ms | ${referenceSides.map((s) => `PyTorch ${threads(s)}t ms`).join(' | ')} | ${referenceSides
    .map((s) => `ratio vs ${threads(s)}t`)
    .join(' | ')} |`,
  `| --- | --- |${' --- |'.repeat(2 * referenceSides.length)}`,
];
for (const name of [...new Set(bench.rows.map((r) => r.case))]) {
  const rows = referenceSides.map((side) => {
    const row = bench.rows.find((r) => r.case === name && threads(r.reference) === threads(side));
    if (!row || row.ratio === null) throw new Error(`${name}: no row against ${side}`);
    return row;
  });
  const best = (row: Row) => (row.reference!.endsWith('(best)') ? '**' : '');
  lines.push(
    `| ${name} | ${rows[0].oursMs.toFixed(1)} | ${rows.map((r) => r.referenceMs!.toFixed(1)).join(' | ')} | ${rows
      .map((r) => `${best(r)}${r.ratio!.toFixed(2)}${best(r)} (${r.ratioMin!.toFixed(2)}-${r.ratioMax!.toFixed(2)})`)
      .join(' | ')} |`,
  );
}
lines.push('', "Bold: the ratio against PyTorch's faster setting for that case.");
writeMarkedSection(
  'README.md',
  '<!-- bench:begin (written by scripts/bench_table.ts; do not edit by hand) -->',
  '<!-- bench:end -->',
  lines.join('\n'),
);
console.log(lines.join('\n'));
