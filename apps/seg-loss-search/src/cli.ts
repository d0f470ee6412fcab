import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BACKEND_NAMES, initBackend } from '@deformjs/core';
import { UsageError, runCli } from '@deformjs/core/node';
import { RunFolder } from '@deformjs/weights/node';
import { TARGET_METRICS, VOC_PRESETS, type TargetMetric } from '@deformjs/auto-seg-loss';
import { LOSS_KINDS, runComparison, type LossKind } from './compare';
import { loadShapesData } from './data';
import { SEARCH_PRESETS, runSearch, type SearchPreset, type SearchResults } from './search';

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

runCli(SPEC, process.argv.slice(2), async ({ positionals, values, flags }) => {
  const command = positionals[0];
  if (command === undefined) {
    // No command (as `pnpm start` from the repository root runs it) is a request for the usage.
    console.log(USAGE);
    return;
  }
  if (positionals.length !== 1 || (command !== 'search' && command !== 'compare'))
    throw new UsageError(`seg-loss-search: expected one command (search, compare), got ${JSON.stringify(positionals)}`);
  // Every flag is read and checked here, before the backend starts or a file is written.
  const metric = flags.oneOf('metric', TARGET_METRICS) as TargetMetric;
  const backendName = flags.oneOf('backend', BACKEND_NAMES);
  const dataConfig = {
    size: flags.int('size', 32),
    trainCount: flags.int('train-count', 1),
    valCount: flags.int('val-count', 1),
    seed: flags.int('data-seed'),
  };
  const lr = flags.number('lr');
  if (!(lr > 0)) throw new UsageError(`seg-loss-search: --lr expects a number > 0, got ${JSON.stringify(values.lr)}`);
  const train = { batchSize: flags.int('batch', 1), crop: flags.int('crop', 8), lr, tolerance: flags.int('tolerance') };
  if (train.crop > Math.round(0.75 * dataConfig.size))
    throw new UsageError(
      `seg-loss-search: --crop ${train.crop} exceeds the shortest image side of --size ${dataConfig.size} (${Math.round(0.75 * dataConfig.size)})`,
    );
  const seed = flags.int('seed');
  const out = resolve(values.out ?? join('runs', `${command}-${metric}`));
  const log = (line: string) => console.error(line);

  if (command === 'search') {
    const preset = SEARCH_PRESETS[flags.oneOf('preset', Object.keys(SEARCH_PRESETS) as SearchPreset[])];
    const pick = (name: 'rounds' | 'samples' | 'updates' | 'proxy-steps', fallback: number, min: number) =>
      flags.optionalInt(name, min) ?? fallback;
    const options = {
      metric,
      pieces: flags.optionalInt('pieces', 1) ?? (metric === 'BF1' ? 1 : 2),
      rounds: pick('rounds', preset.rounds, 1),
      samplesPerRound: pick('samples', preset.samplesPerRound, 2),
      updatesPerRound: pick('updates', preset.updatesPerRound, 1),
      seed,
      proxy: { ...train, steps: pick('proxy-steps', preset.proxySteps, 1), seed },
      data: dataConfig,
    };
    const folder = RunFolder.open(out, {
      program: 'search',
      owns: (name) => OWNED.includes(name),
      fresh: values.fresh,
    });
    try {
      const data = await start(backendName, out, values.cache, dataConfig, log);
      // The first Ctrl-C finishes the current proxy training and saves; a second one exits at once.
      let stopRequested = false;
      process.on('SIGINT', () => {
        if (stopRequested) process.exit(130);
        stopRequested = true;
        log('stopping after the current proxy training (Ctrl-C again to quit now)');
      });
      const results = await runSearch(options, data, out, log, () => stopRequested);
      if (results.stopped) return;
      console.log(
        JSON.stringify(
          { metric, final: results.final, best: results.best, baselinePerRound: results.rounds.map((r) => r.baseline) },
          null,
          2,
        ),
      );
      log(`wrote ${join(out, 'results.json')} and ${join(out, 'rewards.svg')}`);
    } finally {
      folder.release();
    }
    return;
  }

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
  const pickKind = flags.oneOf('pick', ['final', 'best'] as const);
  const steps = flags.int('steps', 1);
  let controlPoints: number[];
  let source: string;
  if (values.theta === 'voc') {
    controlPoints = Array.from(VOC_PRESETS[metric]);
    source = 'VOC preset';
  } else {
    const results = JSON.parse(readFileSync(values.theta, 'utf8')) as SearchResults;
    if (results.metric !== metric)
      throw new Error(`seg-loss-search: ${values.theta} is a search for ${results.metric}, not --metric ${metric}`);
    if (pickKind === 'best' && !results.best)
      throw new Error(`seg-loss-search: ${values.theta} has no finished round yet`);
    controlPoints = pickKind === 'best' ? results.best!.controlPoints : results.final.controlPoints;
    source = pickKind === 'best' ? 'searched, best sample' : 'searched, final mean';
  }
  const folder = RunFolder.open(out, { program: 'compare', owns: (name) => OWNED.includes(name), fresh: values.fresh });
  try {
    const data = await start(backendName, out, values.cache, dataConfig, log);
    const table = await runComparison(
      { metric, controlPoints, source, losses, seeds, train: { ...train, steps }, data: dataConfig },
      data,
      out,
      log,
    );
    console.log(table);
    log(`wrote ${join(out, 'comparison.json')} and ${join(out, 'comparison.md')}`);
  } finally {
    folder.release();
  }
}).then((code) => {
  process.exitCode = code;
});

async function start(
  backendName: (typeof BACKEND_NAMES)[number],
  out: string,
  cache: string,
  dataConfig: { size: number; trainCount: number; valCount: number; seed: number },
  log: (line: string) => void,
) {
  const backend = await initBackend(backendName);
  log(`backend ${backend}; output ${out}`);
  const data = await loadShapesData({ cacheDir: resolve(cache), ...dataConfig });
  log(
    `shapes segmentation set: ${data.train.length} train / ${data.val.length} val images, classes ${data.classes.join(', ')}`,
  );
  return data;
}
