/**
 * Tracklet-conditioned detection against plain detection + the same association, on shapes-world videos: CLEAR
 * MOT (MOTA, ID switches), IDF1 and box jitter against the ground-truth tracks, per seed; writes a JSON record.
 *
 *   npx tsx scripts/tracking.ts --seeds 0,1 --steps 200 --out runs/tracking.json
 *
 * The embedding head is trained (association loss, AdamW) on the training videos' ground-truth boxes, pooled from
 * the feature maps of a tiny Faster R-CNN (FASTER_RCNN_TINY, untrained, frozen: the head learns on its random
 * conv features). The detections are SIMULATED from the validation ground truth by the noise model below, so the
 * comparison isolates the tracker and the conditioning; a trained detector's errors are not this model's.
 * Simulated detector, per ground-truth box and frame: detected with probability 0.9; box corners moved by
 * N(0, (0.04 x box size)^2); score N(0.85, 0.05^2), except with probability 0.25 a dip to U(0.1, 0.35) (the
 * flickering scores of blurred or occluded frames that conditioning is meant to fix); plus Poisson(0.5) false
 * positives per frame, 12-24 px boxes with scores U(0.05, 0.5).
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, Rng } from '@deformjs/core';
import { decodeImage, generateVideo, loadImagenetVid, type VidDataset } from '@deformjs/datasets';
import { FASTER_RCNN_TINY, FasterRCNN } from '@deformjs/dcnv2-rcnn';
import { clearMot, identityF1, trackJitter, type MotFrame } from '@deformjs/metrics';
import { AdamW, optimizationStep } from '@deformjs/nn';
import { associationLoss, DEFAULT_TRACKER, EmbeddingHead, Tracker, type TrackedBox } from '../src/index';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '0,1' },
    steps: { type: 'string', default: '200' },
    frames: { type: 'string', default: '24' },
    out: { type: 'string', default: join(tmpdir(), 'tracking.json') },
  },
});
const seeds = values.seeds!.split(',').map(Number);
const steps = Number(values.steps);
const FRAMES = Number(values.frames);
const SIZE = 64;

interface Frame {
  features: tf.Tensor[];
  paddedSize: [number, number];
  boxes: Float32Array;
  labels: Int32Array;
  trackIds: Int32Array;
}

/** Every video's frames: the frozen detector's feature maps and the ground truth. */
async function loadVideos(dataset: VidDataset, detector: FasterRCNN): Promise<Frame[][]> {
  const videos: Frame[][] = [];
  for (const video of dataset.videos) {
    const frames: Frame[] = [];
    for (const index of video.frames) {
      const record = dataset.records[index];
      const image = await decodeImage(record.imagePath);
      const input = tf.tidy(() =>
        tf.sub(tf.div(tf.tensor4d(image.data, [1, image.height, image.width, 3], 'float32'), 127.5), 1),
      );
      const { features, paddedSize } = detector.features(input);
      input.dispose();
      frames.push({ features, paddedSize, boxes: record.boxes, labels: record.labels, trackIds: record.trackIds! });
    }
    videos.push(frames);
  }
  return videos;
}

const rows = (boxes: Float32Array) =>
  tf.tensor2d(Array.from({ length: boxes.length / 4 }, (_, k) => [0, ...boxes.subarray(4 * k, 4 * k + 4)]).flat(), [
    boxes.length / 4,
    5,
  ]);

/** The simulated detector of the header: noisy ground truth, score dips, misses and false positives. */
function simulate(rng: Rng, frame: Frame, numClasses: number) {
  const boxes: number[] = [];
  const scores: number[] = [];
  const labels: number[] = [];
  for (let k = 0; k < frame.labels.length; k++) {
    if (rng.uniform() >= 0.9) continue;
    const [x1, y1, x2, y2] = frame.boxes.subarray(4 * k, 4 * k + 4);
    const s = 0.04 * Math.max(x2 - x1, y2 - y1);
    boxes.push(x1 + rng.normal(0, s), y1 + rng.normal(0, s), x2 + rng.normal(0, s), y2 + rng.normal(0, s));
    scores.push(rng.uniform() < 0.25 ? 0.1 + 0.25 * rng.uniform() : Math.min(1, rng.normal(0.85, 0.05)));
    labels.push(frame.labels[k]);
  }
  // Poisson(0.5) false positives.
  let n = 0;
  for (let p = Math.exp(-0.5), u = rng.uniform(), cdf = p; u > cdf; n++) cdf += p *= 0.5 / (n + 1);
  for (let i = 0; i < n; i++) {
    const w = 12 + 12 * rng.uniform();
    const x = rng.uniform() * (SIZE - w);
    const y = rng.uniform() * (SIZE - w);
    boxes.push(x, y, x + w, y + w);
    scores.push(0.05 + 0.45 * rng.uniform());
    labels.push(rng.int(numClasses));
  }
  // Corners ordered and inside the frame.
  for (let k = 0; k < boxes.length; k += 4) {
    const [a, b, c, d] = boxes.slice(k, k + 4).map((v) => Math.min(SIZE, Math.max(0, v)));
    boxes.splice(k, 4, Math.min(a, c), Math.min(b, d), Math.max(a, c) + 1e-3, Math.max(b, d) + 1e-3);
  }
  return { boxes: Float32Array.from(boxes), scores: Float32Array.from(scores), labels: Int32Array.from(labels) };
}

const xywh = (b: ArrayLike<number>, k: number) => [
  b[4 * k],
  b[4 * k + 1],
  b[4 * k + 2] - b[4 * k],
  b[4 * k + 3] - b[4 * k + 1],
];

await initBackend('wasm');
const MODES = ['conditioned', 'plain'] as const;
type Mode = (typeof MODES)[number];
interface ModeResult {
  mota: number;
  idf1: number;
  idSwitches: number;
  falsePositives: number;
  falseNegatives: number;
  jitter: number;
}
const runs: Array<
  { seed: number; firstLoss: number; lastLoss: number; trainSeconds: number } & Record<Mode, ModeResult>
> = [];
for (const seed of seeds) {
  const data = await generateVideo({
    out: join(tmpdir(), `deformjs-tracking-${seed}`),
    seed,
    count: 8,
    valCount: 4,
    size: SIZE,
    frames: FRAMES,
  });
  const numClasses = data.classes.length;
  const detector = new FasterRCNN({ ...FASTER_RCNN_TINY, numClasses, seed });
  detector.eval();
  const train = await loadVideos(loadImagenetVid({ root: data.root, split: 'train', classes: data.classes }), detector);
  const val = await loadVideos(loadImagenetVid({ root: data.root, split: 'val', classes: data.classes }), detector);
  const head = new EmbeddingHead(detector.featureChannels, { level: 1, poolSize: 4, hidden: 64, dim: 16, seed });
  const optimizer = new AdamW([{ params: head.trainableVariables() }], { lr: 1e-3, weightDecay: 0 });
  const rng = new Rng(seed);
  const losses: number[] = [];
  const start = performance.now();
  for (let step = 0; step < steps; step++) {
    // A (previous, current) pair 1-3 frames apart with objects in both: the previous frame's objects are the
    // tracklets, the current frame's the detections.
    const video = train[rng.int(train.length)];
    const t = 1 + rng.int(video.length - 1);
    const previous = video[Math.max(0, t - 1 - rng.int(3))];
    const current = video[t];
    if (previous.trackIds.length === 0 || current.trackIds.length === 0) continue;
    const targets = Int32Array.from(current.trackIds, (id) => previous.trackIds.indexOf(id) + 1);
    const [prevRows, curRows] = [rows(previous.boxes), rows(current.boxes)];
    const { loss } = optimizationStep(
      () => {
        const tracklets = head.forward(previous.features, previous.paddedSize, prevRows);
        const detections = head.forward(current.features, current.paddedSize, curRows);
        const l = associationLoss(detections, tracklets, targets, DEFAULT_TRACKER);
        return { loss: l, components: { association: l } };
      },
      head.trainableVariables(),
      optimizer,
      10,
    );
    tf.dispose([prevRows, curRows]);
    losses.push(loss);
  }
  const trainSeconds = (performance.now() - start) / 1000;
  const result = {} as Record<Mode, ModeResult>;
  for (const mode of MODES) {
    // The same simulated detections for both modes: one stream per seed.
    const detections = new Rng(1000 + seed);
    const motFrames: MotFrame[] = [];
    for (const [v, video] of val.entries()) {
      const tracker = new Tracker({ condition: mode === 'conditioned' });
      const videoFrames: MotFrame[] = video.map((frame) => {
        const det = simulate(detections, frame, numClasses);
        let embeddings: Float32Array = new Float32Array(0);
        if (det.scores.length > 0) {
          const boxRows = rows(det.boxes);
          const e = head.forward(frame.features, frame.paddedSize, boxRows);
          embeddings = e.dataSync() as Float32Array;
          tf.dispose([boxRows, e]);
        }
        const tracked: TrackedBox[] = tracker.step({ ...det, embeddings });
        return {
          groundTruth: Array.from(frame.trackIds, (id, k) => ({ id: `${v}/${id}`, bbox: xywh(frame.boxes, k) })),
          hypotheses: tracked.map((b) => ({ id: `${v}/${b.trackId}`, bbox: xywh(b.box, 0) })),
        };
      });
      motFrames.push(...videoFrames);
    }
    const mot = clearMot(motFrames);
    const identity = identityF1(motFrames);
    result[mode] = {
      mota: mot.mota,
      idf1: identity.idf1,
      idSwitches: mot.idSwitches,
      falsePositives: mot.falsePositives,
      falseNegatives: mot.falseNegatives,
      jitter: trackJitter(motFrames).jitter,
    };
  }
  const run = { seed, steps, firstLoss: losses[0], lastLoss: losses[losses.length - 1], trainSeconds, ...result };
  console.log(JSON.stringify(run));
  runs.push(run);
  for (const video of [...train, ...val]) for (const f of video) tf.dispose(f.features);
  optimizer.dispose();
  head.dispose();
  detector.dispose();
}
const KEYS = ['mota', 'idf1', 'idSwitches', 'falsePositives', 'falseNegatives', 'jitter'] as const;
const stat = (mode: Mode, key: (typeof KEYS)[number]) => {
  const v = runs.map((r) => r[mode][key]);
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, v.length - 1));
  return { mean, std };
};
const summary = Object.fromEntries(MODES.map((m) => [m, Object.fromEntries(KEYS.map((k) => [k, stat(m, k)]))]));
const record = {
  command: ['npx tsx', relative(process.cwd(), process.argv[1]), ...process.argv.slice(2)].join(' '),
  steps,
  frames: FRAMES,
  runs,
  summary,
};
mkdirSync(dirname(values.out!), { recursive: true });
writeFileSync(`${values.out}.tmp`, JSON.stringify(record, null, 2));
renameSync(`${values.out}.tmp`, values.out!);
for (const m of MODES)
  console.log(
    `${m.padEnd(12)} ${KEYS.map((k) => `${k} ${summary[m][k].mean.toFixed(3)} +- ${summary[m][k].std.toFixed(3)}`).join(', ')}`,
  );
