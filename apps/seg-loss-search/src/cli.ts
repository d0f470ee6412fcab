import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BACKEND_NAMES, initBackend } from '@deformjs/core';
import { UsageError, runCli, type Flags, type ParsedCli } from '@deformjs/core/node';
import { RunFolder } from '@deformjs/weights/node';
import { TARGET_METRICS, VOC_PRESETS, type TargetMetric } from '@deformjs/auto-seg-loss';
import { LOSS_KINDS, runComparison, type CompareConfig, type LossKind } from './compare';
import { loadShapesData } from './data';
import type { TrainOptions } from './train';
import { SEARCH_PRESETS, runSearch, type SearchConfig, type SearchPreset, type SearchResults } from './search';

const USAGE = `seg-loss-search: Auto Seg-Loss on the synthetic shapes segmentation set

  pnpm start search  [--metric BF1] [--preset tiny|small|paper] [--out runs/search-BF1]
  pnpm start compare [--metric BF1] [--theta voc|<search results.json>] [--losses ce,asl,ce+asl]
                     [--seeds 0,1,2] [--steps 300] [--out runs/compare-BF1]

search   PPO over the surrogate's Bezier parameters; reward = the metric of a tiny segmenter trained
         briefly with the sampled loss, on the held-out split. Resumes from <out>/state.json; writes
         <out>/results.json and <out>/rewards.svg (reward per round).
compare  Trains with each loss for each seed (same budget) and tabulates every metric (mean ± std).
         --theta <results.json> takes the search's final mean (--pick final, as the paper) or its
         best sample (--pick best).

common   --backend wasm|cpu|auto (default wasm)  --size 64 (image side)  --crop 48  --batch 8  --lr 0.003
         --tolerance 2 (BF1 tolerance and BIoU radius, px)  --train-count 200  --val-count 40
         --data-seed 0  --cache runs/data  --fresh (discard this program's files in --out)
         -h, --help  --version;  exit codes 0 done, 1 runtime error, 2 usage error
search   --pieces (2; 1 for BF1 by default)  --rounds --samples --updates --proxy-steps (override the preset)
         --seed 0`;

const OPTIONS = {
  metric: { type: 'string', default: 'BF1' },
  preset: { type: 'string', default: 'tiny' },
  out: { type: 'string' },
  backend: { type: 'string', default: 'wasm' },
  size: { type: 'string', default: '64' },
  crop: { type: 'string', default: '48' },
  batch: { type: 'string', default: '8' },
  lr: { type: 'string', default: '0.003' },
  tolerance: { type: 'string', default: '2' },
  'train-count': { type: 'string', default: '200' },
  'val-count': { type: 'string', default: '40' },
  'data-seed': { type: 'string', default: '0' },
  cache: { type: 'string', default: 'runs/data' },
  fresh: { type: 'boolean', default: false },
  pieces: { type: 'string' },
  rounds: { type: 'string' },
  samples: { type: 'string' },
  updates: { type: 'string' },
  'proxy-steps': { type: 'string' },
  seed: { type: 'string', default: '0' },
  theta: { type: 'string', default: 'voc' },
  pick: { type: 'string', default: 'final' },
  losses: { type: 'string', default: 'ce,asl,ce+asl' },
  seeds: { type: 'string', default: '0,1,2' },
  steps: { type: 'string', default: '300' },
} as const;

/** The files this program writes in --out (all that --fresh may discard). */
const OWNED = ['state.json', 'results.json', 'rewards.svg', 'comparison.json', 'comparison.md'];

const SPEC = {
  name: 'seg-loss-search',
  usage: USAGE,
  packageJson: new URL('../package.json', import.meta.url),
  options: OPTIONS,
};

type Values = ParsedCli<typeof OPTIONS>['values'];

/** The settings both commands share, read from the flags. */
interface Common {
  command: 'search' | 'compare';
  metric: TargetMetric;
  backendName: (typeof BACKEND_NAMES)[number];
  data: CompareConfig['data'];
  train: Omit<TrainOptions, 'seed' | 'steps'>;
  seed: number;
  out: string;
}

runCli(SPEC, process.argv.slice(2), async ({ positionals, values, flags }) => {
  const command = positionals[0];
  if (command === undefined) {
    // No command (as `pnpm start` from the repository root runs it) is a request for the usage.
    console.log(USAGE);
    return;
  }
  if (positionals.length !== 1 || (command !== 'search' && command !== 'compare'))
    throw new UsageError(`seg-loss-search: expected one command (search, compare), got ${JSON.stringify(positionals)}`);
  // Every flag is read and checked before the backend starts or a file is written.
  const common = readCommonFlags(command, values, flags);
  if (command === 'search') await search(common, readSearchFlags(common, flags), values);
  else await compare(common, readCompareFlags(common, values, flags), values);
}).then((code) => {
  process.exitCode = code;
});

function readCommonFlags(command: Common['command'], values: Values, flags: Flags): Common {
  const metric = flags.oneOf('metric', TARGET_METRICS) as TargetMetric;
  const backendName = flags.oneOf('backend', BACKEND_NAMES);
  const data = {
    size: flags.int('size', 32),
    trainCount: flags.int('train-count', 1),
    valCount: flags.int('val-count', 1),
    seed: flags.int('data-seed'),
  };
  const lr = flags.number('lr');
  if (!(lr > 0)) throw new UsageError(`seg-loss-search: --lr expects a number > 0, got ${JSON.stringify(values.lr)}`);
  const train = { batchSize: flags.int('batch', 1), crop: flags.int('crop', 8), lr, tolerance: flags.int('tolerance') };
  if (train.crop > Math.round(0.75 * data.size))
    throw new UsageError(
      `seg-loss-search: --crop ${train.crop} exceeds the shortest image side of --size ${data.size} (${Math.round(0.75 * data.size)})`,
    );
  const seed = flags.int('seed');
  const out = resolve(values.out ?? join('runs', `${command}-${metric}`));
  return { command, metric, backendName, data, train, seed, out };
}

function readSearchFlags(common: Common, flags: Flags): SearchConfig {
  const preset = SEARCH_PRESETS[flags.oneOf('preset', Object.keys(SEARCH_PRESETS) as SearchPreset[])];
  const pick = (name: 'rounds' | 'samples' | 'updates' | 'proxy-steps', fallback: number, min: number) =>
    flags.optionalInt(name, min) ?? fallback;
  const { metric, seed, train, data } = common;
  return {
    metric,
    pieces: flags.optionalInt('pieces', 1) ?? (metric === 'BF1' ? 1 : 2),
    rounds: pick('rounds', preset.rounds, 1),
    samplesPerRound: pick('samples', preset.samplesPerRound, 2),
    updatesPerRound: pick('updates', preset.updatesPerRound, 1),
    seed,
    proxy: { ...train, steps: pick('proxy-steps', preset.proxySteps, 1), seed },
    data,
  };
}

function readCompareFlags(common: Common, values: Values, flags: Flags): CompareConfig {
  const losses = values.losses.split(',').map((s) => s.trim()) as LossKind[];
  for (const loss of losses)
    if (!(LOSS_KINDS as readonly string[]).includes(loss))
      throw new UsageError(
        `seg-loss-search: --losses expects a list of ${LOSS_KINDS.join(', ')}, got ${JSON.stringify(loss)}`,
      );
  const seeds = values.seeds.split(',').map((s) => (/^\d+$/.test(s.trim()) ? Number(s) : NaN));
  if (seeds.some((s) => !Number.isSafeInteger(s)))
    throw new UsageError(
      `seg-loss-search: --seeds expects a list of integers >= 0, got ${JSON.stringify(values.seeds)}`,
    );
  const pick = flags.oneOf('pick', ['final', 'best'] as const);
  const steps = flags.int('steps', 1);
  const { metric, train, data } = common;
  return { metric, ...surrogate(values.theta, pick, metric), losses, seeds, train: { ...train, steps }, data };
}

/** The surrogate's control points: VOC's preset, or a search's final mean or best sample. */
function surrogate(theta: string, pick: 'final' | 'best', metric: TargetMetric) {
  if (theta === 'voc') return { controlPoints: Array.from(VOC_PRESETS[metric]), source: 'VOC preset' };
  const results = JSON.parse(readFileSync(theta, 'utf8')) as SearchResults;
  if (results.metric !== metric)
    throw new Error(`seg-loss-search: ${theta} is a search for ${results.metric}, not --metric ${metric}`);
  if (pick === 'final') return { controlPoints: results.final.controlPoints, source: 'searched, final mean' };
  if (!results.best) throw new Error(`seg-loss-search: ${theta} has no finished round yet`);
  return { controlPoints: results.best.controlPoints, source: 'searched, best sample' };
}

async function search(common: Common, config: SearchConfig, values: Values) {
  const { out } = common;
  const folder = openRunFolder(common, values);
  try {
    const data = await start(common, values.cache);
    // The first Ctrl-C finishes the current proxy training and saves; a second one exits at once.
    let stopRequested = false;
    process.on('SIGINT', () => {
      if (stopRequested) process.exit(130);
      stopRequested = true;
      log('stopping after the current proxy training (Ctrl-C again to quit now)');
    });
    const results = await runSearch(config, data, out, log, () => stopRequested);
    if (results.stopped) return;
    const { metric, final, best } = results;
    const baselinePerRound = results.rounds.map((r) => r.baseline);
    console.log(JSON.stringify({ metric, final, best, baselinePerRound }, null, 2));
    log(`wrote ${join(out, 'results.json')} and ${join(out, 'rewards.svg')}`);
  } finally {
    folder.release();
  }
}

async function compare(common: Common, config: CompareConfig, values: Values) {
  const { out } = common;
  const folder = openRunFolder(common, values);
  try {
    const data = await start(common, values.cache);
    console.log(await runComparison(config, data, out, log));
    log(`wrote ${join(out, 'comparison.json')} and ${join(out, 'comparison.md')}`);
  } finally {
    folder.release();
  }
}

function openRunFolder({ command, out }: Common, values: Values): RunFolder {
  return RunFolder.open(out, { program: command, owns: (name) => OWNED.includes(name), fresh: values.fresh });
}

/** Progress goes to stderr; stdout holds only the results. */
function log(line: string) {
  console.error(line);
}

async function start({ backendName, out, data: dataConfig }: Common, cache: string) {
  const backend = await initBackend(backendName);
  log(`backend ${backend}; output ${out}`);
  const data = await loadShapesData({ cacheDir: resolve(cache), ...dataConfig });
  log(
    `shapes segmentation set: ${data.train.length} train / ${data.val.length} val images, classes ${data.classes.join(', ')}`,
  );
  return data;
}
