/**
 * AP against training time for a set of `train` runs: reads each run's metrics.json (written by the trainer
 * with `--eval-every-epoch`) and writes a markdown table (configuration, wall and CPU seconds, it/s, load
 * average, AP / AP50 after every evaluated epoch with the training seconds at that point, the final COCO
 * stats) and two SVG plots (AP and AP50 against training seconds).
 *
 *   npx tsx scripts/ap_curve.ts --out docs/start <label>=<run folder> [<label>=<run folder> ...]
 *
 * Nothing is measured here: every number comes from the runs' records.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { lineChartSvg } from '@deformjs/core/node';
import type { Metrics } from '../src/train';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { out: { type: 'string', default: 'runs/curve' }, title: { type: 'string', default: 'validation AP' } },
});
if (positionals.length === 0) throw new Error('ap_curve: expected <label>=<run folder> arguments');

const runs = positionals.map((arg) => {
  const at = arg.indexOf('=');
  if (at <= 0) throw new Error(`ap_curve: expected <label>=<run folder>, got ${JSON.stringify(arg)}`);
  const [label, dir] = [arg.slice(0, at), arg.slice(at + 1)];
  const file = join(dir, 'metrics.json');
  if (!existsSync(file)) throw new Error(`ap_curve: ${file} does not exist`);
  return { label, metrics: JSON.parse(readFileSync(file, 'utf8')) as Metrics };
});

const STATS = ['AP', 'AP50', 'AP75', 'AP_S', 'AP_M'];
const f3 = (x: number) => x.toFixed(3);

/** The run's configuration in a few words: what differs between the runs of a study. */
function describe(m: Metrics): string {
  const o = m.segments[m.segments.length - 1].options;
  const c = m.config as Record<string, unknown>;
  const variant = c.twoStage ? 'two-stage' : c.withBoxRefine ? 'refine' : c.numFeatureLevels === 1 ? 'single' : 'multi';
  const data = (m.fingerprint.data as { shapes?: { size: number; trainCount: number } }).shapes;
  return [
    m.detector === 'deformable-detr' ? variant : m.detector,
    data ? `${data.size}px x${data.trainCount}` : '',
    `q${c.numQueries} L${c.encLayers}/${c.decLayers}`,
    `b${o.batchSize} lr ${o.lr} bb x${o.lrBackbone}`,
    `warm ${o.warmupSteps} drop ${o.lrDropEpoch}/${o.epochs}`,
  ]
    .filter(Boolean)
    .join(', ');
}

const rows = runs.map(({ label, metrics: m }) => {
  const steps = m.loss.length;
  const seconds = m.epochSeconds.map(([, s]) => s);
  const curve = m.ap.map(([epoch, ap, ap50], i) => `${epoch}: ${f3(ap)} / ${f3(ap50)} @ ${seconds[i]?.toFixed(0)} s`);
  const load = m.loadAverage?.length ? m.loadAverage.map(([, l]) => l.toFixed(1)).join('-') : '-';
  const final = m.final ? STATS.map((_, i) => f3(m.final!.stats[i])).join(' | ') : STATS.map(() => '-').join(' | ');
  return `| ${label} | ${describe(m)} | ${steps} | ${(m.secondsTraining / Math.max(1, m.ap.length || steps / m.stepsPerEpoch)).toFixed(0)} | ${(steps / m.secondsTraining).toFixed(2)} | ${m.cpuSecondsTraining.toFixed(0)} | ${load} | ${curve.join('<br>')} | ${final} |`;
});

const table = [
  `| run | configuration | steps | s / epoch | it/s | CPU s | load avg | epoch: AP / AP50 @ training s | ${STATS.join(' | ')} |`,
  `|---|---|---|---|---|---|---|---|${STATS.map(() => '---').join('|')}|`,
  ...rows,
].join('\n');

mkdirSync(values.out!, { recursive: true });
writeFileSync(join(values.out!, 'curve.md'), table + '\n');
for (const [index, name] of [
  [1, 'AP'],
  [2, 'AP50'],
] as const) {
  writeFileSync(
    join(values.out!, `${name.toLowerCase()}.svg`),
    lineChartSvg({
      title: `${values.title} (${name}) against training time`,
      xLabel: 'training seconds (evaluation excluded)',
      yLabel: name,
      series: runs.map(({ label, metrics: m }) => ({
        name: label,
        points: m.ap.map((row, i) => [m.epochSeconds[i]?.[1] ?? NaN, row[index]] as [number, number]),
      })),
    }),
  );
}
console.log(`${table}\n\nwrote ${join(values.out!, 'curve.md')}, ap.svg, ap50.svg`);
