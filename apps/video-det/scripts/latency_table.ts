/**
 * Writes the README's latency tables (between the latency-table markers) from the two committed records: the Node
 * bench of @deformjs/video-det (packages/video-det/bench-results/latency.json, `pnpm bench` there) and the Chromium
 * run of the same cases (apps/demo/docs/video_latency.json, apps/demo's scripts/video_latency.ts). Times are
 * medians; ratios are medians of per-round ratios with their min-max.
 *
 *   npx tsx scripts/latency_table.ts
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { markdownTable, writeMarkedSection } from '@deformjs/core/node';

interface Ratio {
  numerator: string;
  denominator: string;
  ratio: number;
  ratioMin: number;
  ratioMax: number;
}
const read = <T>(relative: string): T => JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as T;
const node = read<{
  date: string;
  node: string;
  cpu: string;
  cores: number;
  rounds: number;
  sides: string[];
  loadAverage1mPerRound: number[];
  rows: { case: string; oursMs: number; oursCpuPerWall: number }[];
  caseRatios: Ratio[];
}>('../../../packages/video-det/bench-results/latency.json');
const browser = read<{
  date: string;
  chromium: string;
  backends: (
    | { backend: string; error: string }
    | {
        backend: string;
        error?: undefined;
        threads: number | null;
        crossOriginIsolated: boolean;
        rounds: number;
        minutes: number;
        loadAverage1m: number[];
        msMedian: Record<string, number>;
        ratios: Ratio[];
      }
  )[];
}>('../../demo/docs/video_latency.json');

const ms = (name: string) => {
  const row = node.rows.find((r) => r.case === name);
  if (!row) throw new Error(`latency.json: no case ${JSON.stringify(name)}`);
  return row.oursMs.toFixed(0);
};
const formatRatio = (r: Ratio) => `${r.ratio.toFixed(2)} (${r.ratioMin.toFixed(2)}-${r.ratioMax.toFixed(2)})`;
const ratioIn = (ratios: Ratio[], numerator: string, denominator: string) => {
  const r = ratios.find((x) => x.numerator === numerator && x.denominator === denominator);
  if (!r) throw new Error(`no ratio ${numerator} / ${denominator}`);
  return formatRatio(r);
};
const nodeRatio = (numerator: string, denominator: string) => ratioIn(node.caseRatios, numerator, denominator);
const mobile = (width: number, size: number, name: string) => `mobile w${width} ${size}px: ${name}`;
const resnet = (name: string) => `ResNet-18 w4 128px: ${name}`;
const loads = node.loadAverage1mPerRound;
const cpuPerWall = node.rows.map((r) => r.oursCpuPerWall);

const toy = markdownTable(
  ['design (128 px)', 'per-frame ms', 'key frame ms', 'non-key frame ms', 'non-key / key', 'non-key / per-frame'],
  [
    ...[4, 8].map((w) => [
      `mobile, MobileNet w${w} + Light Flow w${w}`,
      ms(mobile(w, 128, 'per-frame')),
      ms(mobile(w, 128, 'key frame')),
      ms(mobile(w, 128, 'non-key frame')),
      nodeRatio(mobile(w, 128, 'non-key frame'), mobile(w, 128, 'key frame')),
      nodeRatio(mobile(w, 128, 'non-key frame'), mobile(w, 128, 'per-frame')),
    ]),
    [
      'DFF, ResNet-18 w4 + FlowNet-S w8',
      ms(resnet('per-frame')),
      `${ms(resnet('per-frame'))} (per-frame)`,
      ms(resnet('DFF non-key frame')),
      '',
      nodeRatio(resnet('DFF non-key frame'), resnet('per-frame')),
    ],
  ],
  ['left', 'right', 'right', 'right', 'right', 'right'],
);
const components = markdownTable(
  ['mobile (128 px)', 'features', 'Light Flow + warp', 'GRU', 'task network', 'per-frame MobileNet / ResNet-18 w4'],
  [4, 8].map((w) => [
    `w${w}`,
    ms(mobile(w, 128, 'features')),
    ms(mobile(w, 128, 'Light Flow + warp')),
    ms(mobile(w, 128, 'GRU')),
    ms(mobile(w, 128, 'task')),
    nodeRatio(mobile(w, 128, 'per-frame'), resnet('per-frame')),
  ]),
  ['left', 'right', 'right', 'right', 'right', 'right'],
);
const widths = [...new Set(node.rows.map((r) => /^mobile w(\d+) /.exec(r.case)?.[1]).filter(Boolean))].map(Number);
const sizes = [...new Set(node.rows.map((r) => /^mobile w\d+ (\d+)px/.exec(r.case)?.[1]).filter(Boolean))].map(Number);
const sweep = markdownTable(
  [
    'frame',
    'width',
    'features ms',
    'Light Flow + warp ms',
    '(Light Flow + warp) / features',
    'per-frame ms',
    'non-key ms',
    'non-key / per-frame',
    'key / per-frame',
  ],
  sizes.flatMap((size) =>
    widths.map((w) => [
      `${size} px`,
      String(w),
      ms(mobile(w, size, 'features')),
      ms(mobile(w, size, 'Light Flow + warp')),
      nodeRatio(mobile(w, size, 'Light Flow + warp'), mobile(w, size, 'features')),
      ms(mobile(w, size, 'per-frame')),
      ms(mobile(w, size, 'non-key frame')),
      nodeRatio(mobile(w, size, 'non-key frame'), mobile(w, size, 'per-frame')),
      nodeRatio(mobile(w, size, 'key frame'), mobile(w, size, 'per-frame')),
    ]),
  ),
  ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
);

const browserLines: string[] = [];
const browserRows: string[][] = [];
for (const b of browser.backends) {
  if (b.error !== undefined) {
    browserLines.push(`- ${b.backend} failed in the page: ${b.error.split('\n')[0]}`);
    continue;
  }
  const label =
    b.backend === 'wasm'
      ? `wasm, ${b.threads} thread${b.threads === 1 ? '' : 's'}${b.crossOriginIsolated ? '' : ' (page not cross-origin isolated)'}`
      : `${b.backend} (SwiftShader: the CPU, no GPU)`;
  for (const w of [4, 8]) {
    const has = (name: string) => `w${w}: ${name}` in b.msMedian;
    browserRows.push([
      `${label}, ${b.rounds} rounds, load ${b.loadAverage1m.join('-')}`,
      `w${w}`,
      String(b.msMedian[`w${w}: per-frame`]?.toFixed(0)),
      String(b.msMedian[`w${w}: key frame`]?.toFixed(0)),
      String(b.msMedian[`w${w}: non-key frame`]?.toFixed(0)),
      ratioIn(b.ratios, `w${w}: non-key frame`, `w${w}: key frame`),
      ratioIn(b.ratios, `w${w}: non-key frame`, `w${w}: per-frame`),
      has('features') ? ratioIn(b.ratios, `w${w}: Light Flow + warp`, `w${w}: features`) : 'not run',
    ]);
  }
}
const browserTable = markdownTable(
  [
    `Chromium ${browser.chromium} (128 px)`,
    'width',
    'per-frame ms',
    'key frame ms',
    'non-key frame ms',
    'non-key / key',
    'non-key / per-frame',
    '(Light Flow + warp) / features',
  ],
  browserRows,
  ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right'],
);

const body = [
  `Node ${node.node}, wasm at one thread (${node.sides.join(', ')}), ${node.rounds} interleaved rounds on ` +
    `${node.cpu} (${node.cores} shared cores), ${node.date.slice(0, 16).replace('T', ' ')} UTC, load average (1 min) ` +
    `${Math.min(...loads)}-${Math.max(...loads)}; the worker got ${Math.min(...cpuPerWall)}-${Math.max(...cpuPerWall)} ` +
    'of a core (CPU / wall), so the times are inflated by the load and the ratios (median of per-round ratios, ' +
    'min-max) are the numbers to read. Random weights, FPN 8, instance norm.',
  '',
  toy,
  '',
  components,
  '',
  'Crossover sweep (stem and Light Flow conv1 width tied; width 32 is the paper-size MobileNet 1.0 and Light Flow):',
  '',
  sweep,
  '',
  browserTable,
  '',
  ...(browserLines.length ? [...browserLines, ''] : []),
  `From \`packages/video-det/bench-results/latency.json\` and \`apps/demo/docs/video_latency.json\` ` +
    `(${browser.date.slice(0, 16).replace('T', ' ')} UTC).`,
].join('\n');

const readme = fileURLToPath(new URL('../README.md', import.meta.url));
writeMarkedSection(
  readme,
  '<!-- latency-table:start (written by scripts/latency_table.ts; do not edit by hand) -->',
  '<!-- latency-table:end -->',
  body,
);
console.log(body);
