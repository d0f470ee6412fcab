/**
 * Writes the README's speed table (between `bench:begin` and `bench:end`) from bench-results/sparse-interp.json
 * (`pnpm bench`): each sparse case's median time over the rounds against its dense case's, and their ratio.
 * Usage: npx tsx scripts/bench_table.ts
 */
import { readFileSync } from 'node:fs';
import { writeMarkedSection } from '@deformjs/core/node';

interface Row {
  case: string;
  oursMs: number;
  oursCpuPerWall: number;
}
const bench = JSON.parse(readFileSync('bench-results/sparse-interp.json', 'utf8')) as {
  date: string;
  rounds: number;
  cpu: string;
  cores: number;
  loadAverage1mPerRound: number[];
  rows: Row[];
};
const loads = bench.loadAverage1mPerRound;
const lines = [
  `${bench.rounds} interleaved rounds on ${bench.cpu} (${bench.cores} cores, one wasm thread), ${bench.date.slice(0, 10)}; ` +
    `load average (1 min) ${Math.min(...loads)}-${Math.max(...loads)}: times are inflated, the ratios less so. ` +
    'Ratio = sparse median / dense median.',
  '',
  '| case | density | sparse ms | dense ms | ratio |',
  '| --- | --- | --- | --- | --- |',
];
for (const row of bench.rows) {
  const match = /^(.*) sparse (\d+%)$/.exec(row.case);
  if (!match) continue;
  const dense = bench.rows.find((r) => r.case === `${match[1]} dense`)!;
  lines.push(
    `| ${match[1]} | ${match[2]} | ${row.oursMs.toFixed(1)} | ${dense.oursMs.toFixed(1)} | ${(row.oursMs / dense.oursMs).toFixed(2)} |`,
  );
}
writeMarkedSection(
  'README.md',
  '<!-- bench:begin (written by scripts/bench_table.ts; do not edit by hand) -->',
  '<!-- bench:end -->',
  lines.join('\n'),
);
