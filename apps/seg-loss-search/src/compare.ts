import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createProgress, markdownTable, writeFileAtomic } from '@deformjs/core/node';
import type { TargetMetric } from '@deformjs/auto-seg-loss';
import type { ShapesData } from './data';
import { evaluateSegmenter, reportedMetrics, trainSegmenter, type LossSpec, type TrainOptions } from './train';

/** What each compared loss is: cross-entropy, the surrogate alone (as the paper retrains), or their sum. */
export const LOSS_KINDS = ['ce', 'asl', 'ce+asl'] as const;
export type LossKind = (typeof LOSS_KINDS)[number];

export const REPORTED_METRICS = ['mIoU', 'FWIoU', 'mAcc', 'gAcc', 'BIoU', 'BF1'] as const;

export interface CompareConfig {
  metric: TargetMetric;
  /** The surrogate's control points and where they came from ('voc' preset or a search's results file). */
  controlPoints: number[];
  source: string;
  losses: LossKind[];
  seeds: number[];
  train: Omit<TrainOptions, 'seed'>;
  data: { size: number; trainCount: number; valCount: number; seed: number };
}

interface Run {
  loss: LossKind;
  seed: number;
  metrics: Record<(typeof REPORTED_METRICS)[number], number>;
  seconds: number;
}

interface CompareFile {
  config: CompareConfig;
  runs: Run[];
}

function lossSpec(kind: LossKind, config: CompareConfig): LossSpec {
  const asl = { metric: config.metric, controlPoints: config.controlPoints, weight: 1 };
  return kind === 'ce' ? { ce: 1 } : kind === 'asl' ? { ce: 0, asl } : { ce: 1, asl };
}

/**
 * Trains one segmenter per (loss, seed) with the same budget, evaluates every metric on the held-out split
 * and writes `<out>/comparison.json` (resumable: finished runs are kept) and `<out>/comparison.md`.
 */
export async function runComparison(
  config: CompareConfig,
  data: ShapesData,
  out: string,
  log: (line: string) => void,
): Promise<string> {
  const path = join(out, 'comparison.json');
  let runs: Run[] = [];
  if (existsSync(path)) {
    const saved = JSON.parse(readFileSync(path, 'utf8')) as CompareFile;
    if (JSON.stringify(saved.config) === JSON.stringify(config)) {
      runs = saved.runs;
      log(`resuming ${path}: ${runs.length} of ${config.losses.length * config.seeds.length} runs done`);
    } else {
      throw new Error(
        `seg-loss-search: ${path} holds a comparison with other settings; pass --fresh or use another --out.`,
      );
    }
  }
  const numClasses = data.classes.length;
  for (const seed of config.seeds) {
    for (const loss of config.losses) {
      if (runs.some((r) => r.loss === loss && r.seed === seed)) continue;
      const progress = createProgress({ total: config.train.steps, label: `${loss} seed ${seed}` });
      const start = performance.now();
      const model = await trainSegmenter(
        data.train,
        numClasses,
        lossSpec(loss, config),
        { ...config.train, seed },
        (step, value) => progress.update(step, { loss: value }),
      );
      const result = evaluateSegmenter(model, data.val, numClasses, config.train.tolerance);
      model.dispose();
      const metrics = reportedMetrics(result);
      progress.done({ [config.metric]: metrics[config.metric] });
      runs.push({ loss, seed, metrics, seconds: (performance.now() - start) / 1000 });
      writeFileAtomic(path, JSON.stringify({ config, runs } satisfies CompareFile, null, 2) + '\n');
    }
  }
  const table = comparisonTable(config, runs);
  writeFileAtomic(join(out, 'comparison.md'), table);
  return table;
}

/** Mean +- sample standard deviation over seeds, in percent, one row per loss. */
export function comparisonTable(config: CompareConfig, runs: readonly Run[]): string {
  const rows = config.losses.map((loss) => {
    const mine = runs.filter((r) => r.loss === loss);
    const cells = REPORTED_METRICS.map((m) => {
      const values = mine.map((r) => 100 * r.metrics[m]);
      const mean = values.reduce((a, b) => a + b, 0) / values.length;
      const std = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / Math.max(values.length - 1, 1));
      return `${mean.toFixed(2)} ± ${std.toFixed(2)}`;
    });
    const seconds = mine.reduce((a, r) => a + r.seconds, 0) / Math.max(mine.length, 1);
    const name =
      loss === 'ce'
        ? 'cross-entropy'
        : loss === 'asl'
          ? `ASL-${config.metric} (${config.source})`
          : `CE + ASL-${config.metric} (${config.source})`;
    return [name, ...cells, seconds.toFixed(0)];
  });
  return markdownTable(['loss', ...REPORTED_METRICS, 'seconds/run'], rows) + '\n';
}
