import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { createProgress, lineChartSvg, writeFileAtomic } from '@deformjs/core/node';
import {
  CURVES_PER_METRIC,
  PpoSearch,
  controlPointsFromTheta,
  identityTheta,
  runPpoSearch,
  type PpoState,
  type TargetMetric,
} from '@deformjs/auto-seg-loss';
import type { ShapesData } from './data';
import { evaluateSegmenter, metricValue, trainSegmenter, type TrainOptions } from './train';

/**
 * Search sizes: the paper's, and smaller ones for a shared 2-core CPU (fewer rounds, samples and proxy steps;
 * the paper's 60 policy updates per round). With only 4 samples a round, 60 Adam steps at lr 0.2 can overshoot:
 * `--updates` lowers them.
 */
export const SEARCH_PRESETS = {
  paper: { rounds: 12, samplesPerRound: 32, updatesPerRound: 60, proxySteps: 1000 },
  small: { rounds: 6, samplesPerRound: 8, updatesPerRound: 60, proxySteps: 150 },
  tiny: { rounds: 3, samplesPerRound: 4, updatesPerRound: 60, proxySteps: 150 },
} as const;
export type SearchPreset = keyof typeof SEARCH_PRESETS;

export interface SearchConfig {
  metric: TargetMetric;
  /** Quadratic pieces per curve: the official searches use 2, BF1's 1. */
  pieces: number;
  rounds: number;
  samplesPerRound: number;
  updatesPerRound: number;
  seed: number;
  /** The proxy task: a TinySegmenter trained from scratch with the sampled loss alone, as the official search does. */
  proxy: TrainOptions;
  data: { size: number; trainCount: number; valCount: number; seed: number };
}

interface SearchFile {
  config: SearchConfig;
  search: PpoState;
}

export interface SearchResults {
  metric: TargetMetric;
  config: SearchConfig;
  rounds: Array<{
    round: number;
    meanControlPoints: number[];
    rewards: number[];
    baseline: number;
    best: number;
    average: number;
  }>;
  /** The final sampling mean, the loss to retrain with. */
  final: { theta: number[]; controlPoints: number[] };
  best: { theta: number[]; controlPoints: number[]; reward: number; round: number } | null;
}

class SearchStopped extends Error {}

/**
 * Runs (or resumes) a search, checkpointing to `<out>/state.json` after every proxy training (atomic
 * writes), and writes `<out>/results.json` and `<out>/rewards.svg` after every round. When `stop()` turns
 * true, the search returns after the next checkpoint (`stopped` set); running it again continues it.
 */
export async function runSearch(
  config: SearchConfig,
  data: ShapesData,
  out: string,
  log: (line: string) => void,
  stop: () => boolean = () => false,
): Promise<SearchResults & { stopped: boolean }> {
  const statePath = join(out, 'state.json');
  const curves = CURVES_PER_METRIC[config.metric];
  let search: PpoSearch;
  if (existsSync(statePath)) {
    const saved = JSON.parse(readFileSync(statePath, 'utf8')) as SearchFile;
    if (JSON.stringify(saved.config) !== JSON.stringify(config)) {
      throw new Error(
        `seg-loss-search: ${statePath} belongs to a search with other settings; pass --fresh to start over or use another --out.\n  saved:     ${JSON.stringify(saved.config)}\n  requested: ${JSON.stringify(config)}`,
      );
    }
    search = PpoSearch.restore(saved.search);
    log(
      `resuming ${statePath}: round ${search.round + 1}/${config.rounds}, ${search.missingRewards().length || config.samplesPerRound} samples to go in this round`,
    );
  } else {
    const initialMean = Array.from({ length: curves }, () => identityTheta(config.pieces)).flat();
    search = PpoSearch.create(
      {
        size: initialMean.length,
        initialMean,
        rounds: config.rounds,
        samplesPerRound: config.samplesPerRound,
        updatesPerRound: config.updatesPerRound,
      },
      config.seed,
    );
  }
  const numClasses = data.classes.length;
  const progress = createProgress({ total: config.rounds * config.samplesPerRound, label: `search ${config.metric}` });
  const done = () =>
    search.round * config.samplesPerRound + (search.done ? 0 : config.samplesPerRound - search.missingRewards().length);
  let bestReward = search.best()?.reward ?? -Infinity;

  try {
    await runPpoSearch(
      search,
      async (theta, { round, sample }) => {
        const controlPoints = controlPointsFromTheta(theta, curves);
        const model = await trainSegmenter(
          data.train,
          numClasses,
          { ce: 0, asl: { metric: config.metric, controlPoints, weight: 1 } },
          config.proxy,
        );
        const reward = metricValue(
          evaluateSegmenter(model, data.val, numClasses, config.proxy.tolerance),
          config.metric,
        );
        model.dispose();
        bestReward = Math.max(bestReward, reward);
        progress.update(done() + 1, {
          round: round + 1,
          sample,
          reward,
          best: bestReward,
          tensors: tf.memory().numTensors,
        });
        if (Number.isFinite(reward)) return reward;
        log(`round ${round + 1} sample ${sample}: the metric is ${reward} (the proxy training diverged); reward 0`);
        return 0;
      },
      (s, { sample }) => {
        writeFileAtomic(statePath, JSON.stringify({ config, search: s.state() } satisfies SearchFile) + '\n');
        if (sample === null) writeResults(out, summarise(config, s));
        if (stop()) throw new SearchStopped();
      },
    );
  } catch (error) {
    if (!(error instanceof SearchStopped)) throw error;
    log(`stopped; ${statePath} holds the search: run the same command again to continue`);
    return { ...summarise(config, search), stopped: true };
  }
  progress.done({ best: bestReward });
  return { ...summarise(config, search), stopped: false };
}

function summarise(config: SearchConfig, search: PpoSearch): SearchResults {
  const curves = CURVES_PER_METRIC[config.metric];
  const best = search.best();
  const finalTheta = search.mean();
  return {
    metric: config.metric,
    config,
    rounds: search.history.map((r) => ({
      round: r.round,
      meanControlPoints: controlPointsFromTheta(r.mean, curves),
      rewards: r.rewards,
      baseline: r.baseline,
      best: Math.max(...r.rewards),
      average: r.rewards.reduce((a, b) => a + b, 0) / r.rewards.length,
    })),
    final: { theta: finalTheta, controlPoints: controlPointsFromTheta(finalTheta, curves) },
    best: best ? { ...best, controlPoints: controlPointsFromTheta(best.theta, curves) } : null,
  };
}

function writeResults(out: string, results: SearchResults): void {
  writeFileAtomic(join(out, 'results.json'), JSON.stringify(results, null, 2) + '\n');
  const round = (r: { round: number }) => r.round + 1;
  const svg = lineChartSvg({
    title: `Auto Seg-Loss search: ${results.metric} reward per round`,
    xLabel: 'round',
    yLabel: results.metric,
    series: [
      { name: 'mean (sample 0)', points: results.rounds.map((r) => [round(r), r.baseline] as const) },
      { name: 'best sample', points: results.rounds.map((r) => [round(r), r.best] as const) },
      { name: 'average', points: results.rounds.map((r) => [round(r), r.average] as const) },
    ],
  });
  writeFileAtomic(join(out, 'rewards.svg'), svg);
}
