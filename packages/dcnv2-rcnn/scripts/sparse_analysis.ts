/**
 * Spatially adaptive inference (arXiv 2003.08866) in a trained detector: for a run of apps/detect with a
 * SparseResNet or dense ResNet-50 backbone, the evaluation masks of every sparse bottleneck on the validation
 * images (the share of sampled positions of conv1's and conv2's masks), and the backbone's multiply-adds counted
 * from them: the convolutions at the positions they compute (conv1 at mask1's, conv2 and, as the fused inference
 * path runs it, conv3 at mask2's where the block computes conv3 on the sampled rows; dense elsewhere), the mask
 * convs, the shortcuts and the stem; the interpolation is left out (a few multiply-adds per channel). Writes
 * `<run>/sparse.json`. Usage (the data flags of the run):
 *   npx tsx scripts/sparse_analysis.ts --run runs/sparse/sparse-w0.5-s0 --size 64 --train-count 100 --val-count 80
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@deformjs/core';
import { writeFileAtomic } from '@deformjs/core/node';
import { SparseBottleneck, SparseResNet } from '@deformjs/sparse-interp';
import { DATA_OPTIONS, loadRunModel, shapesLoader } from './shapes_run';

const { values } = parseArgs({ options: { run: { type: 'string' }, ...DATA_OPTIONS } });

/** A bottleneck's multiply-adds on an H x W input, conv1 computed at `d1` of the positions, conv2 and conv3 at `d2`. */
export function bottleneckMacs(block: SparseBottleneck, H: number, W: number, d1: number, d2: number, sparse: boolean) {
  const { inplanes: C, planes: P, stride } = block;
  const [Ho, Wo] = [H, W].map((d) => Math.floor((d - 1) / stride) + 1);
  const out = P * SparseBottleneck.expansion;
  const shortcut = block.downsample ? Ho * Wo * C * out : 0;
  const masks = sparse ? (H * W + Ho * Wo) * C * 9 : 0;
  return H * W * d1 * C * P + Ho * Wo * d2 * (9 * P * P + P * out) + shortcut + masks;
}

async function main() {
  if (!values.run) throw new Error('--run: the run folder (holding checkpoint.safetensors) is required');
  await initBackend('wasm');
  const model = loadRunModel(values.run);
  const { config } = model;
  const body = model.backbone.body;
  const sparse = body instanceof SparseResNet;
  // The dense model has the same bottlenecks: a SparseResNet of its shape counts them (every position computed).
  const shape = sparse ? body : new SparseResNet({ depth: config.backbone.depth as 50, width: config.backbone.width });
  const blocks = shape.stages.flatMap((s) => s.blocks);

  // Each block's input size and sampled shares, summed over the validation images.
  const stats = blocks.map(() => ({ H: 0, W: 0, sampled1: 0, sampled2: 0, images: 0 }));
  if (sparse) {
    blocks.forEach((block, b) => {
      const sample = block.sampleMasks.bind(block);
      block.sampleMasks = (x) => {
        const masks = sample(x);
        const share = (m: tf.Tensor) =>
          tf.tidy(() => tf.mean(tf.cast(tf.notEqual(m, 0), 'float32'), [1, 2, 3]).arraySync() as number[]);
        stats[b].H = x.shape[1]!;
        stats[b].W = x.shape[2]!;
        stats[b].sampled1 += share(masks.mask1).reduce((a, v) => a + v, 0);
        stats[b].sampled2 += share(masks.mask2).reduce((a, v) => a + v, 0);
        stats[b].images += x.shape[0]!;
        return masks;
      };
    });
  }

  const loader = await shapesLoader(values, 'val');
  let inputSize: [number, number] = [0, 0];
  for await (const batch of loader.batches({ untilEpoch: 1 })) {
    const x = tf.tensor4d(batch.images, [batch.batchSize, batch.height, batch.width, 3]);
    inputSize = [Math.ceil(batch.height / 32) * 32, Math.ceil(batch.width / 32) * 32];
    tf.dispose(model.backbone.forward(x));
    x.dispose();
  }
  await loader.close();

  // Block input sizes of the dense model (the same as the sparse one's): the stem divides by 4, stages 2..4 by 2.
  let [H, W] = inputSize.map((d) => d / 4);
  const width = config.backbone.width;
  const stem = (inputSize[0] / 2) * (inputSize[1] / 2) * 3 * width * 49;
  let denseMacs = stem;
  let sparseMacs = stem;
  const perBlock = blocks.map((block, b) => {
    const s = stats[b];
    const d1 = sparse ? s.sampled1 / s.images : 1;
    const d2 = sparse ? s.sampled2 / s.images : 1;
    denseMacs += bottleneckMacs(block, H, W, 1, 1, false);
    sparseMacs += bottleneckMacs(block, H, W, d1, d2, sparse);
    const result = { H, W, density1: d1, density2: d2 };
    if (block.stride === 2) [H, W] = [H, W].map((d) => Math.floor((d - 1) / 2) + 1);
    return result;
  });
  const sampled = (k: 'density1' | 'density2') => perBlock.reduce((a, r) => a + r[k], 0) / perBlock.length;
  const analysis = {
    sparse,
    inputSize,
    backboneMacs: sparseMacs,
    denseBackboneMacs: denseMacs,
    meanDensity1: sampled('density1'),
    meanDensity2: sampled('density2'),
    blocks: perBlock,
  };
  writeFileAtomic(join(values.run, 'sparse.json'), JSON.stringify(analysis, null, 2));
  console.log(
    `${values.run}: backbone ${(sparseMacs / 1e6).toFixed(1)} M multiply-adds (dense ${(denseMacs / 1e6).toFixed(1)} M), ` +
      `mean sampled share conv1 ${analysis.meanDensity1.toFixed(3)}, conv2 ${analysis.meanDensity2.toFixed(3)}`,
  );
}

await main();
