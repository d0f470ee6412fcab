/**
 * Flow networks' end-point error on shapes-world videos against their ground-truth flow: zero flow, and each
 * network of `--nets` (FlowNet-S, Light Flow) untrained and after a short training (multi-scale EPE loss, AdamW),
 * per seed, on the same pairs and batches; prints a JSON record.
 *
 *   npx tsx scripts/flow_epe.ts --seeds 0,1 --steps 150 --nets flownet,lightflow --out /tmp/flow-epe.json
 *
 * Frames are 64 px on the long side (the short side is padded to 64 with zeros, flow there not counted); pairs
 * are (t, t - d) for d in 1..3 (the backward flow to an earlier frame, as DFF warps a key frame); EPE is over
 * pixels whose point stays visible (the occlusion mask), after upsampling flow2 bilinearly x4 as FlowNet does.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, Rng } from '@deformjs/core';
import { decodeImage, generateVideo, loadGroundTruthFlow } from '@deformjs/datasets';
import { flowEndPointError } from '@deformjs/metrics';
import { AdamW, optimizationStep, resizeBilinear } from '@deformjs/nn';
import { FlowNetS, LightFlow, multiScaleEpeLoss } from '../src/index';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '0,1' },
    steps: { type: 'string', default: '150' },
    width: { type: 'string', default: '8' },
    nets: { type: 'string', default: 'flownet' },
    lr: { type: 'string', default: '1e-3' },
    batch: { type: 'string', default: '4' },
    out: { type: 'string', default: join(tmpdir(), 'flow-epe.json') },
  },
});
const seeds = values.seeds!.split(',').map(Number);
const steps = Number(values.steps);
const batchSize = Number(values.batch);
const SIZE = 64;
const OFFSETS = [-1, -2, -3];
const NETS = { flownet: FlowNetS, lightflow: LightFlow } as const;
type NetName = keyof typeof NETS;
const nets = values.nets!.split(',') as NetName[];
for (const name of nets)
  if (!(name in NETS))
    throw new Error(`flow_epe: --nets expected names from [${Object.keys(NETS).join(', ')}], got '${name}'`);

interface Pair {
  current: Float32Array;
  reference: Float32Array;
  flow: Float32Array;
  valid: Uint8Array;
}

/** Frames normalised to [-1, 1], padded to SIZE x SIZE; flow and mask padded with zeros. */
async function loadPairs(root: string, videos: Awaited<ReturnType<typeof generateVideo>>['videos'], frames: number) {
  const pairs: Pair[] = [];
  for (const { split, video, width, height } of videos) {
    const images = await Promise.all(
      Array.from({ length: frames }, (_, f) =>
        decodeImage(join(root, 'Data', 'VID', split, video, `${String(f).padStart(6, '0')}.JPEG`)),
      ),
    );
    const pad = (data: ArrayLike<number>, channels: number, map: (v: number) => number) => {
      const out = new Float32Array(SIZE * SIZE * channels);
      for (let y = 0; y < height; y++)
        for (let x = 0; x < width; x++)
          for (let c = 0; c < channels; c++)
            out[(y * SIZE + x) * channels + c] = map(data[(y * width + x) * channels + c]);
      return out;
    };
    for (let t = 0; t < frames; t++) {
      for (const d of OFFSETS) {
        if (t + d < 0) continue;
        const { flow, valid } = loadGroundTruthFlow(root, split, video, t, t + d, { width, height });
        pairs.push({
          current: pad(images[t].data, 3, (v) => v / 127.5 - 1),
          reference: pad(images[t + d].data, 3, (v) => v / 127.5 - 1),
          flow: pad(flow, 2, (v) => v),
          valid: Uint8Array.from(pad(valid, 1, (v) => v)),
        });
      }
    }
  }
  return pairs;
}

function stack(pairs: Pair[], key: 'current' | 'reference' | 'flow', channels: number): tf.Tensor4D {
  const out = new Float32Array(pairs.length * SIZE * SIZE * channels);
  pairs.forEach((p, i) => out.set(p[key], i * SIZE * SIZE * channels));
  return tf.tensor4d(out, [pairs.length, SIZE, SIZE, channels]);
}

/**
 * Mean EPE of a predictor of full-resolution flow over the pairs' valid pixels, and over the valid pixels that
 * move (ground truth of 0.5 px or more): the static background is most of every frame, where zero flow is exact.
 */
function evaluate(
  pairs: Pair[],
  predict: (current: tf.Tensor4D, reference: tf.Tensor4D) => tf.Tensor,
): Record<Pixels, number> {
  const sums = { all: 0, moving: 0 };
  const counts = { all: 0, moving: 0 };
  for (const pair of pairs) {
    const flow = tf.tidy(() => predict(stack([pair], 'current', 3), stack([pair], 'reference', 3)));
    const moving = pair.valid.map((v, p) => (v && Math.hypot(pair.flow[2 * p], pair.flow[2 * p + 1]) >= 0.5 ? 1 : 0));
    for (const [key, mask] of [
      ['all', pair.valid],
      ['moving', moving],
    ] as const) {
      const { epe, pixels } = flowEndPointError(flow.dataSync(), pair.flow, mask);
      if (pixels === 0) continue;
      sums[key] += epe * pixels;
      counts[key] += pixels;
    }
    flow.dispose();
  }
  return { all: sums.all / counts.all, moving: sums.moving / counts.moving };
}

type Pixels = 'all' | 'moving';
const METHODS = ['zero', ...nets.flatMap((n) => [`untrained ${n}`, `trained ${n}`])];

await initBackend('wasm');
interface Run {
  seed: number;
  trainPairs: number;
  valPairs: number;
  epe: Record<string, Record<Pixels, number>>;
  trainSeconds: Record<string, number>;
  firstLoss: Record<string, number>;
  lastLoss: Record<string, number>;
  /** Trainable parameters, and milliseconds per val pair of the trained network's evaluation (forward + EPE). */
  parameters: Record<string, number>;
  msPerPair: Record<string, number>;
}
const runs: Run[] = [];
for (const seed of seeds) {
  const data = await generateVideo({
    out: join(tmpdir(), `deformjs-flow-epe-${seed}`),
    seed,
    count: 12,
    valCount: 4,
    size: SIZE,
    frames: 8,
    flowOffsets: OFFSETS,
  });
  const train = await loadPairs(
    data.root,
    data.videos.filter((v) => v.split === 'train'),
    8,
  );
  const val = await loadPairs(
    data.root,
    data.videos.filter((v) => v.split === 'val'),
    8,
  );
  const run: Run = {
    seed,
    trainPairs: train.length,
    valPairs: val.length,
    epe: { zero: evaluate(val, () => tf.zeros([1, SIZE, SIZE, 2])) },
    trainSeconds: {},
    firstLoss: {},
    lastLoss: {},
    parameters: {},
    msPerPair: {},
  };
  for (const name of nets) {
    const net = new NETS[name]({ width: Number(values.width), seed });
    const predict = (current: tf.Tensor4D, reference: tf.Tensor4D) => {
      net.eval();
      const { flow, features, predictions } = net.forward(current, reference);
      const full = resizeBilinear(flow, [SIZE, SIZE]);
      tf.dispose([flow, features, ...predictions]);
      return full;
    };
    run.epe[`untrained ${name}`] = evaluate(val, predict);
    const optimizer = new AdamW([{ params: net.trainableVariables() }], { lr: Number(values.lr), weightDecay: 0 });
    // The same batches for every network.
    const rng = new Rng(seed);
    const start = performance.now();
    const losses: number[] = [];
    for (let step = 0; step < steps; step++) {
      const batch = Array.from({ length: batchSize }, () => train[rng.int(train.length)]);
      const [current, reference, flow] = [
        stack(batch, 'current', 3),
        stack(batch, 'reference', 3),
        stack(batch, 'flow', 2),
      ];
      net.train();
      const { loss } = optimizationStep(
        () => {
          const out = net.forward(current, reference);
          const l = multiScaleEpeLoss(out.predictions, flow);
          tf.dispose([out.flow, out.features, ...out.predictions]);
          return { loss: l, components: { epe: l } };
        },
        net.trainableVariables(),
        optimizer,
        10,
      );
      losses.push(loss);
      tf.dispose([current, reference, flow]);
    }
    run.trainSeconds[name] = (performance.now() - start) / 1000;
    const evalStart = performance.now();
    run.epe[`trained ${name}`] = evaluate(val, predict);
    run.msPerPair[name] = (performance.now() - evalStart) / val.length;
    run.parameters[name] = net.trainableVariables().reduce((n, v) => n + v.size, 0);
    run.firstLoss[name] = losses[0];
    run.lastLoss[name] = losses[losses.length - 1];
    optimizer.dispose();
    net.dispose();
  }
  console.log(JSON.stringify(run));
  runs.push(run);
}
const stat = (method: string, pixels: Pixels) => {
  const v = runs.map((r) => r.epe[method][pixels]);
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, v.length - 1));
  return { mean, std };
};
const summary = Object.fromEntries(METHODS.map((m) => [m, { all: stat(m, 'all'), moving: stat(m, 'moving') }]));
const record = {
  command: ['npx tsx', relative(process.cwd(), process.argv[1]), ...process.argv.slice(2)].join(' '),
  width: Number(values.width),
  steps,
  nets,
  runs,
  summary,
};
writeFileSync(values.out!, JSON.stringify(record, null, 2));
const show = (m: string, p: Pixels) => `${summary[m][p].mean.toFixed(3)} +- ${summary[m][p].std.toFixed(3)}`;
console.log(`EPE in px, mean +- std over seeds ${seeds.join(', ')} (valid pixels | valid moving pixels):`);
const label = (m: string) => (m.startsWith('trained') ? `${m} (${steps} steps)` : m);
for (const m of METHODS) console.log(`  ${label(m).padEnd(30)} ${show(m, 'all')} | ${show(m, 'moving')}`);
