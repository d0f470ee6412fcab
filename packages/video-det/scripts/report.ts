/**
 * Prints the README's tables from the committed run outputs of scripts/flow_epe.ts (results/flow_epe.json) and
 * scripts/tracking.ts (results/tracking.json):
 *
 *   npx tsx scripts/report.ts
 */
import { readFileSync } from 'node:fs';

const read = (name: string) => JSON.parse(readFileSync(new URL(`../results/${name}`, import.meta.url), 'utf8'));
const pm = (s: { mean: number; std: number }, digits = 3) => `${s.mean.toFixed(digits)} +- ${s.std.toFixed(digits)}`;

const epe = read('flow_epe.json');
const seeds = epe.runs.map((r: { seed: number }) => r.seed).join(', ');
console.log(`Flow EPE in px on the val pairs, mean +- std over seeds ${seeds} (\`${epe.command}\`):\n`);
console.log('| flow | parameters | EPE, valid pixels | EPE, valid moving pixels |');
console.log('|---|---|---|---|');
for (const [method, s] of Object.entries(epe.summary) as Array<
  [string, Record<'all' | 'moving', { mean: number; std: number }>]
>) {
  const net = method.split(' ')[1];
  const params = net ? String(epe.runs[0].parameters[net]) : '0';
  const label = method.startsWith('trained') ? `${method}, ${epe.steps} steps` : method;
  console.log(`| ${label} | ${params} | ${pm(s.all)} | ${pm(s.moving)} |`);
}

const tracking = read('tracking.json');
const tseeds = tracking.runs.map((r: { seed: number }) => r.seed).join(', ');
console.log(`\nTracking on the val videos, mean +- std over seeds ${tseeds} (\`${tracking.command}\`):\n`);
const keys = ['mota', 'idf1', 'idSwitches', 'falsePositives', 'falseNegatives', 'jitter'] as const;
console.log('| scores | MOTA | IDF1 | ID switches | false positives | false negatives | box jitter |');
console.log('|---|---|---|---|---|---|---|');
for (const mode of ['conditioned', 'plain'] as const) {
  const s = tracking.summary[mode];
  const cells = keys.map((k) => pm(s[k], k === 'idSwitches' || k.startsWith('false') ? 1 : 3));
  console.log(
    `| ${mode === 'conditioned' ? 'tracklet-conditioned' : 'plain detection scores'} | ${cells.join(' | ')} |`,
  );
}
