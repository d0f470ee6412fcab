/**
 * The sequence study's README section (between `sequence:begin` and `sequence:end`) and its plots
 * (docs/sequence-<placement>.svg). When runs/sequence exists (scripts/sequence_study.ts), first collects the runs
 * into docs/sequence-runs.json, which is committed; the section is written from that file.
 * Usage (in packages/attention): npx tsx scripts/sequence_report.ts
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend } from '@deformjs/core';
import { lineChartSvg, writeFileAtomic, writeMarkedSection } from '@deformjs/core/node';
import { SequenceGeneralizedAttention } from '../src/index';

interface RunRecord {
  name: string;
  placement: string;
  attentionType: string;
  seed: number;
  steps: number;
  batch: number;
  length: number;
  config: { width: number; heads: number; layers: number };
  loadBefore: number[];
  loadAfter: number[];
  curve: [number, number][];
  secondsTraining: number;
  cpuSecondsTraining: number;
  final: { tokenAccuracy: number; sentenceAccuracy: number };
}

const RUNS = 'runs/sequence';
const DATA = 'docs/sequence-runs.json';
const PLACEMENTS = ['encoderSelf', 'encoderDecoder', 'decoderSelf'] as const;
const PLACEMENT_NAMES: Record<string, string> = {
  encoderSelf: 'encoder self-attention',
  encoderDecoder: 'encoder-decoder attention',
  decoderSelf: 'decoder self-attention',
};
/** Row order: all terms, the Transformer's E1+E2, then single terms. */
const TYPES = ['1111', '1100', '1000', '0100', '0010', '0001'];
const TERM_NAMES = ['query & key content', 'query content & rel. position', 'key content', 'rel. position'];

if (existsSync(RUNS)) {
  const runs = readdirSync(RUNS)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(RUNS, f), 'utf8')) as RunRecord & { loss?: unknown })
    .filter((r) => r.final)
    .map(({ loss: _loss, ...kept }) => kept); // the per-step loss stays in runs/: the curve is enough here
  writeFileAtomic(DATA, `${JSON.stringify(runs)}\n`);
}
const runs = JSON.parse(readFileSync(DATA, 'utf8')) as RunRecord[];

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
const std = (v: number[]) => Math.sqrt(mean(v.map((x) => (x - mean(v)) ** 2)));
const pm = (v: number[]) => `${(100 * mean(v)).toFixed(1)} ± ${(100 * std(v)).toFixed(1)}`;
const terms = (type: string) =>
  [...type]
    .map((c, i) => (c === '1' ? `E${i + 1}` : ''))
    .filter(Boolean)
    .join('+');
/** Teacher-forced accuracy at `step`, averaged over the runs. */
const at = (rs: RunRecord[], step: number) => rs.map((r) => r.curve.find(([s]) => s === step)?.[1] ?? NaN);

const typeOf = (r: RunRecord) => (r.placement === 'all' ? '1111' : r.attentionType);
const names = [...new Set(runs.map((r) => r.name))];
const groups = names
  .map((name) => runs.filter((r) => r.name === name))
  .sort((a, b) => TYPES.indexOf(typeOf(a[0])) - TYPES.indexOf(typeOf(b[0])));

// The attention cost of a type: its modules' multiply-adds per sentence pair in a training batch (the position
// features are shared by the batch), counted by the module itself.
await initBackend('cpu');
const { batch, length, config } = runs[0];
const macs = (type: string) => {
  const module = new SequenceGeneralizedAttention({
    embedDim: config.width,
    numHeads: config.heads,
    attentionType: type,
  });
  const count = (config.layers * module.multiplyAdds(batch, length, length)) / batch;
  module.dispose();
  return count;
};
const steps = [...new Set(runs.map((r) => r.steps))].join(', ');
const early = Math.round(Number(steps) / 2 / 50) * 50;
const loads = runs.flatMap((r) => [...r.loadBefore.slice(0, 1), ...r.loadAfter.slice(0, 1)]);

const rowsFor = (placement: string) =>
  groups
    .filter((g) => g[0].placement === placement || g[0].placement === 'all')
    .map((g) => {
      const r0 = g[0];
      const type = typeOf(r0);
      const cpuMsPerStep = mean(g.map((r) => (1000 * r.cpuSecondsTraining) / r.steps));
      return (
        `| ${PLACEMENT_NAMES[placement]} | \`${type}\` ${terms(type)}${r0.placement === 'all' ? ' (baseline)' : ''} | ` +
        `${g.map((r) => r.seed).join(', ')} | ${pm(g.map((r) => r.final.tokenAccuracy))} | ` +
        `${pm(g.map((r) => r.final.sentenceAccuracy))} | ${pm(at(g, early))} | ${(macs(type) / macs('1111')).toFixed(2)} | ${cpuMsPerStep.toFixed(0)} |`
      );
    });

const lines = [
  `${runs.length} runs of ${steps} steps (batch ${runs[0].batch}, sentences of ${runs[0].length} words, AdamW 1e-3), ` +
    'mean ± std over the seeds listed. Greedy: the decoder reads its own outputs, on 256 fixed validation ' +
    `sentences; token and whole-sentence accuracy in %. Teacher-forced @${early}: token accuracy half-way through ` +
    "training (how fast a configuration learns). Attention multiply-adds: the placement's attention modules " +
    '(projections, terms, weighted sum; `SequenceGeneralizedAttention.multiplyAdds`) per sentence pair in a batch ' +
    `of ${batch} (the position features are shared by the batch), relative to all four terms ` +
    `(${(macs('1111') / 1e6).toFixed(2)} M). CPU ms / step: training CPU time (all placements and everything else) over ` +
    `the steps, at a load average (1 min) of ${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)} on ` +
    `2 cores. The other two placements keep \`1111\`. Terms: E1 ${TERM_NAMES[0]}, E2 ${TERM_NAMES[1]}, ` +
    `E3 ${TERM_NAMES[2]}, E4 ${TERM_NAMES[3]}.`,
  '',
  '| placement | attention type | seeds | greedy token acc | greedy sentence acc | teacher-forced @' +
    `${early} | attention multiply-adds vs 1111 | CPU ms / step |`,
  '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ...PLACEMENTS.flatMap((p) => rowsFor(p)),
  '',
  ...PLACEMENTS.map(
    (p) =>
      `![${PLACEMENT_NAMES[p]}](https://github.com/deformjs/deformjs/blob/main/packages/attention/docs/sequence-${p}.svg)`,
  ),
];

for (const placement of PLACEMENTS) {
  const series = groups
    .filter((g) => g[0].placement === placement || g[0].placement === 'all')
    .map((g) => {
      const type = typeOf(g[0]);
      const points = g[0].curve.map(([step]) => [step, mean(at(g, step))] as const);
      return { name: type, points };
    });
  const svg = lineChartSvg({
    title: `${PLACEMENT_NAMES[placement]}: teacher-forced token accuracy (mean of seeds)`,
    xLabel: 'step',
    yLabel: 'validation token accuracy',
    series,
  });
  writeFileAtomic(`docs/sequence-${placement}.svg`, svg);
}

writeMarkedSection(
  'README.md',
  '<!-- sequence:begin (written by scripts/sequence_report.ts from docs/sequence-runs.json; do not edit by hand) -->',
  '<!-- sequence:end -->',
  lines.join('\n'),
);
