/**
 * AP against training time for a set of `train` runs: reads each run's metrics.json (written by the trainer
 * with `--eval-every-epoch`) and writes a markdown table (configuration, wall and CPU seconds per epoch, it/s,
 * load average, AP / AP50 after every evaluated epoch with the training CPU seconds at that point, the final
 * COCO stats; runs labelled `<name> seed <n>` also as mean +- std over their seeds) and two SVG plots (AP and
 * AP50 against training CPU seconds).
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
    `q${c.numQueries} L${c.encLayers}/${c.decLayers} dropout ${c.dropout}`,
    o.backboneWeights ? 'pretrained backbone' : 'backbone from scratch',
    `b${o.batchSize} lr ${o.lr} bb x${o.lrBackbone}`,
    `warm ${o.warmupSteps} drop ${o.lrDropEpoch}/${o.epochs}`,
    // Records from before --cls-loss-coef existed trained with the detector's own weight.
    o.clsLossCoef === undefined || o.clsLossCoef === null ? '' : `cls x${o.clsLossCoef}`,
  ]
    .filter(Boolean)
    .join(', ');
}

/**
 * Training CPU seconds at each evaluated epoch: what the run takes on an idle core (the wasm backend is single-
 * threaded), unlike wall seconds on a shared machine. Records older than `epochCpuSeconds` share the total
 * out by steps (every step costs about the same): marked `~`.
 */
function cpuAtEpochs(m: Metrics): { seconds: number[]; exact: boolean } {
  if (m.epochCpuSeconds?.length === m.ap.length) return { seconds: m.epochCpuSeconds.map(([, s]) => s), exact: true };
  const steps = m.loss.length;
  return { seconds: m.ap.map(([epoch]) => (m.cpuSecondsTraining * epoch * m.stepsPerEpoch) / steps), exact: false };
}

const rows = runs.map(({ label, metrics: m }) => {
  const steps = m.loss.length;
  const { seconds, exact } = cpuAtEpochs(m);
  const curve = m.ap.map(
    ([epoch, ap, ap50], i) => `${epoch}: ${f3(ap)} / ${f3(ap50)} @ ${exact ? '' : '~'}${seconds[i].toFixed(0)} s`,
  );
  const loads = (m.loadAverage ?? []).map(([, l]) => l);
  const load = loads.length ? `${Math.min(...loads).toFixed(0)}-${Math.max(...loads).toFixed(0)}` : '-';
  const final = m.final ? STATS.map((_, i) => f3(m.final!.stats[i])).join(' | ') : STATS.map(() => '-').join(' | ');
  const epochs = steps / m.stepsPerEpoch;
  return `| ${label} | ${describe(m)} | ${steps} | ${(m.secondsTraining / epochs).toFixed(0)} | ${(steps / m.secondsTraining).toFixed(2)} | ${(m.cpuSecondsTraining / epochs).toFixed(0)} | ${(steps / m.cpuSecondsTraining).toFixed(2)} | ${load} | ${curve.join('<br>')} | ${final} |`;
});

const table = [
  `| run | configuration | steps | wall s / epoch | it/s (wall) | CPU s / epoch | it/s per CPU s | load avg | epoch: AP / AP50 @ training CPU s | ${STATS.join(' | ')} |`,
  `|---|---|---|---|---|---|---|---|---|${STATS.map(() => '---').join('|')}|`,
  ...rows,
].join('\n');

/**
 * Runs labelled `<name> seed <n>` are one configuration trained from several seeds: their final COCO stats as
 * mean +- sample standard deviation, with the training CPU seconds.
 */
function seedSummary(): string {
  const groups = new Map<string, Metrics[]>();
  for (const { label, metrics } of runs) {
    const name = /^(.*) seed \d+$/.exec(label)?.[1];
    if (name !== undefined && metrics.final) groups.set(name, [...(groups.get(name) ?? []), metrics]);
  }
  const meanStd = (xs: number[]) => {
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const std = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1));
    return { mean, std };
  };
  const rows = [...groups]
    .filter(([, ms]) => ms.length >= 2)
    .map(([name, ms]) => {
      const stats = STATS.map((_, i) => meanStd(ms.map((m) => m.final!.stats[i])));
      const cpu = meanStd(ms.map((m) => m.cpuSecondsTraining));
      return `| ${name} | ${ms.length} | ${stats.map(({ mean, std }) => `${f3(mean)} +- ${f3(std)}`).join(' | ')} | ${cpu.mean.toFixed(0)} +- ${cpu.std.toFixed(0)} |`;
    });
  if (rows.length === 0) return '';
  return [
    '',
    'Over seeds (mean +- sample standard deviation of the final evaluation):',
    '',
    `| configuration | seeds | ${STATS.join(' | ')} | training CPU s |`,
    `|---|---|${STATS.map(() => '---').join('|')}|---|`,
    ...rows,
  ].join('\n');
}

const summary = seedSummary();
mkdirSync(values.out!, { recursive: true });
writeFileSync(join(values.out!, 'curve.md'), table + '\n' + (summary ? summary + '\n' : ''));
for (const [index, name] of [
  [1, 'AP'],
  [2, 'AP50'],
] as const) {
  writeFileSync(
    join(values.out!, `${name.toLowerCase()}.svg`),
    lineChartSvg({
      title: `${values.title} (${name}) against training time`,
      xLabel: 'training CPU seconds (= seconds on an idle core; evaluation excluded)',
      yLabel: name,
      series: runs.map(({ label, metrics: m }) => {
        const { seconds } = cpuAtEpochs(m);
        return { name: label, points: m.ap.map((row, i) => [seconds[i], row[index]] as [number, number]) };
      }),
    }),
  );
}
console.log(`${table}\n${summary}\n\nwrote ${join(values.out!, 'curve.md')}, ap.svg, ap50.svg`);
