/**
 * Writes the README's "adaptive key frames against the generator's speed" table (between the keys-table markers)
 * from the eval reports scripts/adaptive_keys.sh wrote under results/keys/seed<N>/: per seed and tau, the key-frame
 * and recomputed fractions of the validation videos grouped by the speed bin of their fastest track (per seed: the
 * learned quality map's scale differs between seeds, so one tau means different things), and how often the groups
 * come in the order of their speed.
 *
 *   npx tsx scripts/keys_table.ts
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeMarkedSection } from '@deformjs/core/node';
import type { EvalReport } from '../src/evaluate';

const dir = new URL('..', import.meta.url).pathname;
const root = join(dir, 'results', 'keys');
const seeds = readdirSync(root)
  .filter((d) => /^seed\d+$/.test(d))
  .sort();
const reports = seeds.flatMap((seed) =>
  readdirSync(join(root, seed))
    .filter((f) => f.endsWith('.json'))
    .map((file) => {
      const report = JSON.parse(readFileSync(join(root, seed, file), 'utf8')) as EvalReport;
      if (!report.videoSpeeds) throw new Error(`${join(root, seed, file)}: no videoSpeeds (not a shapes evaluation?)`);
      return { seed: seed.slice(4), report };
    })
    .sort((a, b) => b.report.inference.tau - a.report.inference.tau),
);
if (reports.length === 0) throw new Error(`${root}: no eval reports`);

const BINS = ['slow', 'medium', 'fast'] as const;
const percent = (v: number | undefined) => (v === undefined ? '-' : `${(100 * v).toFixed(0)}%`);
const group = (r: EvalReport, label: string) => r.videoSpeeds!.find((g) => g.label === label);
const first = reports[0].report;
const lines = [
  `| seed | tau | ${BINS.map((b) => {
    const g = group(first, b);
    return `key frames, ${b} videos (${g?.videos ?? 0} videos)`;
  }).join(' | ')} | ${BINS.map((b) => `recomputed, ${b}`).join(' | ')} | key frames, all |`,
  `| --- | --- |${' --- |'.repeat(2 * BINS.length + 1)}`,
  ...reports.map(
    ({ seed, report }) =>
      `| ${seed} | ${report.inference.tau} | ${BINS.map((b) => percent(group(report, b)?.keyFrameFraction)).join(' | ')} | ${BINS.map(
        (b) => percent(group(report, b)?.updatedFraction),
      ).join(' | ')} | ${percent(report.keyFrameFraction)} |`,
  ),
];
// The settings where keys are neither (almost) all nor (almost) none of the frames are the ones that can show an order.
const informative = reports.filter(({ report }) => report.keyFrameFraction > 0.1 && report.keyFrameFraction < 0.9);
const fewer = (a: string, b: string) =>
  informative.filter(({ report }) => group(report, a)!.keyFrameFraction < group(report, b)!.keyFrameFraction).length;
const loads = reports.map(({ report }) => report.loadAverage);
lines.push(
  '',
  `Of the ${informative.length} settings with 10-90% key frames overall, slow videos have fewer key frames than ` +
    `medium ones in ${fewer('slow', 'medium')}, fewer than fast ones in ${fewer('slow', 'fast')}; fast videos have ` +
    `fewer than medium ones in ${fewer('fast', 'medium')}. Gamma ${first.inference.gamma}; ${first.videos} validation ` +
    `videos of ${first.frames / first.videos} frames; load ${Math.min(...loads).toFixed(0)}-${Math.max(...loads).toFixed(0)}.`,
);
writeMarkedSection(
  join(dir, 'README.md'),
  '<!-- keys-table:start (written by scripts/keys_table.ts; do not edit by hand) -->',
  '<!-- keys-table:end -->',
  lines.join('\n'),
);
console.log(lines.join('\n'));
