/**
 * The flow-guided warp and FGFA's aggregation against the same computation in PyTorch (bench/reference.py:
 * `F.grid_sample`, zeros padding, with the pixel-to-normalised conversion the warp fixture checks; the aggregation
 * as upstream batches it), forward and forward + backward, at three sizes of the designs, interleaved round by round
 * by core's interleavedBench: ours at one wasm thread, PyTorch at 1 and 2 threads with OMP_WAIT_POLICY=PASSIVE,
 * persistent processes, median of the per-round ratios. Each of our processes first checks that every case leaves
 * the tensor count flat. Run after `pnpm build`: pnpm bench (then `npx tsx scripts/bench_table.ts` for the README).
 */
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, Rng } from '@deformjs/core';
import { interleavedBench } from '@deformjs/core/bench';
import { aggregateByEmbedding, Embedding, warp } from '../src/index';

/** Feature maps of the designs (`embed` 0: warp only). */
const SIZES = [
  // apps/video-det at 128 px: the finest FPN level (stride 4) of FPN width 64, embedding 16, FGFA +-2 (5 frames).
  { name: '32x32x64', H: 32, W: 32, C: 64, embed: 16, frames: 5 },
  // A 600x1000 frame at stride 16 with FPN width 256, embedding 64, two training references (3 frames).
  { name: '38x63x256', H: 38, W: 63, C: 256, embed: 64, frames: 3 },
  // DFF's and FGFA's R-FCN map (ResNet-101 conv5, 1024 channels after the dimension reduction) at 600x1000.
  { name: '38x63x1024', H: 38, W: 63, C: 1024, embed: 0, frames: 0 },
];
const CASES = SIZES.flatMap(({ name, embed }) => [
  `${name}: warp forward`,
  `${name}: warp forward + backward`,
  ...(embed > 0 ? [`${name}: aggregation forward`, `${name}: aggregation forward + backward`] : []),
]);
const LEAK_RUNS = 3;

/** Brings results back from the backend (so the work is done) and frees them. */
function settle(out: tf.Tensor | tf.Tensor[]): void {
  for (const t of [out].flat()) t.dataSync();
  tf.dispose(out);
}

function sizeCases(rng: Rng, { name, H, W, C, embed, frames }: (typeof SIZES)[number]) {
  const features = rng.normalTensor([1, H, W, C]);
  const flow = rng.normalTensor([1, H, W, 2], 0, 3);
  const warpUpstream = rng.normalTensor([1, H, W, C]);
  const warpGrads = tf.grads((f: tf.Tensor, fl: tf.Tensor) => warp(f, fl));
  const cases: Record<string, () => void> = {
    [`${name}: warp forward`]: () => settle(warp(features, flow)),
    [`${name}: warp forward + backward`]: () => settle(warpGrads([features, flow], warpUpstream)),
  };
  if (embed === 0) return cases;
  const net = new Embedding(rng, C, embed);
  // Variables, so one variableGrads call differentiates the frames' features and the embedding weights together.
  const stack = Array.from({ length: frames }, () => tf.variable(rng.normalTensor([1, H, W, C])));
  const aggregate = () => {
    const { features: out, weights } = aggregateByEmbedding(
      net,
      [stack[0]],
      stack.slice(1).map((f) => [f]),
    );
    tf.dispose(weights);
    return out[0];
  };
  const aggUpstream = rng.normalTensor([1, H, W, C]);
  const trained = [...net.trainableVariables(), ...stack];
  cases[`${name}: aggregation forward`] = () => settle(aggregate());
  cases[`${name}: aggregation forward + backward`] = () => {
    // aggregateByEmbedding keeps its outputs out of every tidy: disposed here, as FGFA's training does.
    let out: tf.Tensor | undefined;
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul((out = aggregate()), aggUpstream)), trained);
    settle([value, out!, ...Object.values(grads)]);
  };
  return cases;
}

await interleavedBench({
  file: 'warp-aggregation',
  title: `flow-guided warp and FGFA aggregation (${SIZES.map((s) => s.name).join(', ')}; NHWC, batch 1): forward and forward + backward`,
  cases: CASES,
  reference: {
    script: fileURLToPath(new URL('./reference.py', import.meta.url)),
    args: [SIZES.map((s) => `${s.name}:${[s.H, s.W, s.C, s.embed, s.frames].join(',')}`).join(';')],
  },
  oursThreads: [1],
  // Cases of a millisecond are at the mercy of the shared machine's scheduler: more rounds steady their medians.
  rounds: 15,
  ours: async () => {
    await initBackend('wasm');
    const rng = new Rng(0);
    const cases = Object.assign({}, ...SIZES.map((size) => sizeCases(rng, size))) as Record<string, () => void>;
    for (const [name, run] of Object.entries(cases)) {
      const counts: number[] = [];
      for (let i = 0; i < LEAK_RUNS; i++) {
        run();
        counts.push(tf.memory().numTensors);
      }
      if (counts.some((c) => c !== counts[0]))
        throw new Error(`${name}: tensor count over ${LEAK_RUNS} runs is not flat: ${counts.join(', ')}`);
    }
    return cases;
  },
});
