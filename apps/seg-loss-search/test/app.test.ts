import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, Rng } from '@deformjs/core';
import { assertAllClose, assertNoTensorLeak } from '@deformjs/core/testing';
import { afterAll, describe, expect, it } from 'vitest';
import type { SegmentationImage, ShapesData } from '../src/data';
import { TinySegmenter } from '../src/model';
import { runSearch, type SearchConfig } from '../src/search';
import { crossEntropy, evaluateSegmenter, trainSegmenter } from '../src/train';

/** Small random images with blocky labels and a void pixel here and there. */
function fakeSplit(rng: Rng, count: number, size: number): SegmentationImage[] {
  return Array.from({ length: count }, () => {
    const labels = new Int32Array(size * size);
    const a = rng.int(3);
    const b = rng.int(3);
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) labels[y * size + x] = rng.next() < 0.05 ? 255 : x < size / 2 ? a : b;
    const image = new Float32Array(size * size * 3);
    for (let i = 0; i < labels.length; i++)
      for (let c = 0; c < 3; c++) image[i * 3 + c] = (labels[i] === 255 ? 0 : labels[i]) - 1 + 0.3 * rng.normal();
    return { image, labels, width: size, height: size };
  });
}

const rng = new Rng(1);
const data: ShapesData = {
  train: fakeSplit(rng, 6, 16),
  val: fakeSplit(rng, 3, 16),
  classes: ['background', 'a', 'b'],
};
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('seg-loss-search', () => {
  it('cross-entropy ignores void labels like PyTorch ignore_index', async () => {
    await initBackend('cpu');
    const logits = tf.tensor4d([2, 0, -1, 0.5, 0.5, 0.5, -3, 1, 2, 0, 0, 4], [1, 2, 2, 3]);
    const labels = tf.tensor3d([0, 255, 2, 1], [1, 2, 2], 'int32');
    const nll = (row: number[], k: number) => Math.log(row.reduce((s, v) => s + Math.exp(v), 0)) - row[k];
    const expected = (nll([2, 0, -1], 0) + nll([-3, 1, 2], 2) + nll([0, 0, 4], 1)) / 3;
    assertAllClose(crossEntropy(logits, labels), [expected], { atol: 1e-6, name: 'cross-entropy' });
    tf.dispose([logits, labels]);
  });

  it('trains the proxy segmenter with CE + ASL without leaking tensors', async () => {
    await initBackend('wasm');
    const options = { steps: 3, batchSize: 2, crop: 12, lr: 3e-3, seed: 0, tolerance: 1 };
    const spec = {
      ce: 1,
      asl: { metric: 'BF1' as const, controlPoints: [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5], weight: 1 },
    };
    const losses: number[] = [];
    await assertNoTensorLeak(async () => {
      const model = await trainSegmenter(data.train, 3, spec, options, (_, loss) => losses.push(loss));
      const result = evaluateSegmenter(model, data.val, 3, 1);
      expect(result.pixels).toBeGreaterThan(0);
      model.dispose();
    });
    expect(losses.every(Number.isFinite)).toBe(true);
  });

  it('the segmenter has the same gradients on cpu and wasm for a non-square image', async () => {
    // 14 x 10 px: the stride-4 features are 4 x 3, so both resizes are non-square (tfjs's cpu
    // ResizeBilinearGrad throws for those; nn.resizeBilinear is built from gathers that differentiate everywhere).
    const gradients: Float32Array[][] = [];
    for (const backend of ['wasm', 'cpu'] as const) {
      await initBackend(backend);
      const model = new TinySegmenter(new Rng(3), 3, 8);
      const images = new Rng(4).normalTensor([1, 14, 10, 3]) as tf.Tensor4D;
      const weights = new Rng(5).normalTensor([1, 14, 10, 3]);
      const variables = model.trainableVariables();
      const { value, grads } = tf.variableGrads(
        () => tf.sum(tf.mul(model.forward(images), weights)) as tf.Scalar,
        variables,
      );
      gradients.push(variables.map((v) => grads[v.name].dataSync() as Float32Array));
      tf.dispose([value, images, weights, ...Object.values(grads)]);
      model.dispose();
    }
    gradients[0].forEach((wasm, i) => assertAllClose(gradients[1][i], wasm, { atol: 1e-3, name: `gradient ${i}` }));
  });

  it('a stopped and resumed search ends exactly as an uninterrupted one', async () => {
    await initBackend('wasm');
    const config: SearchConfig = {
      metric: 'BF1',
      pieces: 1,
      rounds: 2,
      samplesPerRound: 3,
      updatesPerRound: 5,
      seed: 4,
      proxy: { steps: 2, batchSize: 2, crop: 12, lr: 3e-3, seed: 4, tolerance: 1 },
      data: { size: 16, trainCount: 6, valCount: 3, seed: 0 },
    };
    const quiet = () => {};
    const whole = mkdtempSync(join(tmpdir(), 'asl-whole-'));
    const parts = mkdtempSync(join(tmpdir(), 'asl-parts-'));
    dirs.push(whole, parts);
    const full = await runSearch(config, data, whole, quiet);
    expect(full.stopped).toBe(false);
    let checkpoints = 0;
    const first = await runSearch(config, data, parts, quiet, () => ++checkpoints === 4);
    expect(first.stopped).toBe(true);
    const resumed = await runSearch(config, data, parts, quiet);
    expect(resumed).toEqual(full);
    expect(readFileSync(join(parts, 'results.json'), 'utf8')).toEqual(
      readFileSync(join(whole, 'results.json'), 'utf8'),
    );
    expect(readFileSync(join(parts, 'rewards.svg'), 'utf8')).toContain('<svg');
  });
});
