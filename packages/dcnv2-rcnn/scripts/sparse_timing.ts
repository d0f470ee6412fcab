/**
 * Inference time of the trained detectors of `scripts/run_study.sh sparse` against each other, interleaved round by round
 * by @deformjs/core's interleavedBench (one wasm thread): per variant (its seed-0 run), the backbone + FPN alone
 * and the whole detector (`detect`) on the first validation batch, in evaluation (the sparse backbones compute
 * their convs at the sampled positions only). Writes bench-results/sparse-detector.json; then
 * scripts/sparse_report.ts. Usage: npx tsx scripts/sparse_timing.ts --size 64 --train-count 100 --val-count 80
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@deformjs/core';
import { interleavedBench, type BenchCase } from '@deformjs/core/bench';
import type { Batch } from '@deformjs/datasets';
import { SPARSE_VARIANTS } from '../src/index';
import { DATA_OPTIONS, loadRunModel, shapesLoader } from './shapes_run';

const { values } = parseArgs({ options: { runs: { type: 'string', default: 'runs/sparse' }, ...DATA_OPTIONS } });
const VARIANTS = Object.keys(SPARSE_VARIANTS);

async function ours(): Promise<Record<string, BenchCase>> {
  await initBackend('wasm');
  const loader = await shapesLoader(values, 'val');
  let first: Batch | undefined;
  for await (const batch of loader.batches({ untilEpoch: 1 })) {
    first = batch;
    break;
  }
  await loader.close();
  if (!first) throw new Error('the validation split is empty');
  const images = tf.tensor4d(first.images, [first.batchSize, first.height, first.width, 3]);
  const sizes = first.targets.map((t) => t.size);
  const cases: Record<string, BenchCase> = {};
  for (const variant of VARIANTS) {
    const model = loadRunModel(join(values.runs!, `${variant}-s0`));
    cases[`${variant} backbone`] = () => {
      const features = model.features(images).features;
      features.forEach((f) => f.dataSync());
      tf.dispose(features);
    };
    cases[`${variant} detect`] = () => model.detect(images, sizes);
  }
  return cases;
}

await interleavedBench({
  file: 'sparse-detector',
  title: 'Faster R-CNN with dense and sparse ResNet-50 backbones (trained, seed 0), inference on a validation batch',
  cases: VARIANTS.flatMap((v) => [`${v} backbone`, `${v} detect`]),
  ours,
  oursThreads: [1],
  rounds: Number(process.env.BENCH_ROUNDS ?? 9),
});
