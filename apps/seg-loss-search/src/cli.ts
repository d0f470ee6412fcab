import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { BACKEND_NAMES, initBackend, type BackendName } from '@deformjs/core';
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
         --data-seed 0  --cache runs/data  --fresh (discard saved state in --out)
search   --pieces (2; 1 for BF1 by default)  --rounds --samples --updates --proxy-steps (override the preset)
         --seed 0`;

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
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
      help: { type: 'boolean', default: false },
    },
  });
  const command = positionals[0];
  if (values.help || command === undefined || (command !== 'search' && command !== 'compare')) {
    console.log(USAGE);
    // No command (as `pnpm start` from the repository root runs it) is a request for the usage.
    if (command !== undefined && !values.help) process.exitCode = 2;
    return;
  }
  const int = (name: keyof typeof values, min = 0): number => {
    const value = Number(values[name]);
    if (!Number.isInteger(value) || value < min)
      throw new Error(`seg-loss-search: --${name} expects an integer >= ${min}, got ${JSON.stringify(values[name])}`);
    return value;
  };
  const metric = values.metric as TargetMetric;
  if (!(TARGET_METRICS as readonly string[]).includes(metric))
    throw new Error(
      `seg-loss-search: --metric expects one of ${TARGET_METRICS.join(', ')}, got ${JSON.stringify(metric)}`,
    );
  if (!(BACKEND_NAMES as readonly string[]).includes(values.backend!))
    throw new Error(
      `seg-loss-search: --backend expects one of ${BACKEND_NAMES.join(', ')}, got ${JSON.stringify(values.backend)}`,
    );
  const lr = Number(values.lr);
  if (!(lr > 0)) throw new Error(`seg-loss-search: --lr expects a number > 0, got ${JSON.stringify(values.lr)}`);

  const backend = await initBackend(values.backend as BackendName);
  const dataConfig = {
    size: int('size', 32),
    trainCount: int('train-count', 1),
    valCount: int('val-count', 1),
    seed: int('data-seed'),
  };
  const train = { batchSize: int('batch', 1), crop: int('crop', 8), lr, tolerance: int('tolerance') };
  if (train.crop > Math.round(0.75 * dataConfig.size))
    throw new Error(
      `seg-loss-search: --crop ${train.crop} exceeds the shortest image side of --size ${dataConfig.size} (${Math.round(0.75 * dataConfig.size)})`,
    );
  const out = resolve(values.out ?? join('runs', `${command}-${metric}`));
  if (values.fresh) rmSync(out, { recursive: true, force: true });
  const log = (line: string) => console.error(line);
  log(`backend ${backend}; output ${out}`);
  const data = await loadShapesData({ cacheDir: resolve(values.cache!), ...dataConfig });
  log(
    `shapes segmentation set: ${data.train.length} train / ${data.val.length} val images, classes ${data.classes.join(', ')}`,
  );

  if (command === 'search') {
    if (!(values.preset! in SEARCH_PRESETS))
      throw new Error(
        `seg-loss-search: --preset expects one of ${Object.keys(SEARCH_PRESETS).join(', ')}, got ${JSON.stringify(values.preset)}`,
      );
    const preset = SEARCH_PRESETS[values.preset as SearchPreset];
    const pick = (name: 'rounds' | 'samples' | 'updates' | 'proxy-steps', fallback: number, min: number) =>
      values[name] === undefined ? fallback : int(name, min);
    // The first Ctrl-C finishes the current proxy training and saves; a second one exits at once.
    let stopRequested = false;
    process.on('SIGINT', () => {
      if (stopRequested) process.exit(130);
      stopRequested = true;
      log('stopping after the current proxy training (Ctrl-C again to quit now)');
    });
    const results = await runSearch(
      {
        metric,
        pieces: values.pieces === undefined ? (metric === 'BF1' ? 1 : 2) : int('pieces', 1),
        rounds: pick('rounds', preset.rounds, 1),
        samplesPerRound: pick('samples', preset.samplesPerRound, 2),
        updatesPerRound: pick('updates', preset.updatesPerRound, 1),
        seed: int('seed'),
        proxy: { ...train, steps: pick('proxy-steps', preset.proxySteps, 1), seed: int('seed') },
        data: dataConfig,
      },
      data,
      out,
      log,
      () => stopRequested,
    );
    if (results.stopped) return;
    console.log(
      JSON.stringify(
        { metric, final: results.final, best: results.best, baselinePerRound: results.rounds.map((r) => r.baseline) },
        null,
        2,
      ),
    );
    log(`wrote ${join(out, 'results.json')} and ${join(out, 'rewards.svg')}`);
    return;
  }

  const losses = values.losses!.split(',').map((s) => s.trim()) as LossKind[];
  for (const loss of losses)
    if (!(LOSS_KINDS as readonly string[]).includes(loss))
      throw new Error(
        `seg-loss-search: --losses expects a list of ${LOSS_KINDS.join(', ')}, got ${JSON.stringify(loss)}`,
      );
  const seeds = values.seeds!.split(',').map((s) => Number(s));
  if (seeds.some((s) => !Number.isInteger(s) || s < 0))
    throw new Error(`seg-loss-search: --seeds expects a list of integers >= 0, got ${JSON.stringify(values.seeds)}`);
  if (values.pick !== 'final' && values.pick !== 'best')
    throw new Error(`seg-loss-search: --pick expects final or best, got ${JSON.stringify(values.pick)}`);
  let controlPoints: number[];
  let source: string;
  if (values.theta === 'voc') {
    controlPoints = Array.from(VOC_PRESETS[metric]);
    source = 'VOC preset';
  } else {
    const results = JSON.parse(readFileSync(values.theta!, 'utf8')) as SearchResults;
    if (results.metric !== metric)
      throw new Error(`seg-loss-search: ${values.theta} is a search for ${results.metric}, not --metric ${metric}`);
    if (values.pick === 'best' && !results.best)
      throw new Error(`seg-loss-search: ${values.theta} has no finished round yet`);
    controlPoints = values.pick === 'best' ? results.best!.controlPoints : results.final.controlPoints;
    source = values.pick === 'best' ? 'searched, best sample' : 'searched, final mean';
  }
  const table = await runComparison(
    { metric, controlPoints, source, losses, seeds, train: { ...train, steps: int('steps', 1) }, data: dataConfig },
    data,
    out,
    log,
  );
  console.log(table);
  log(`wrote ${join(out, 'comparison.json')} and ${join(out, 'comparison.md')}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
