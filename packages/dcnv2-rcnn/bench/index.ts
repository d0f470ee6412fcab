/**
 * FASTER_RCNN_SMALL on one 128x128 image, wasm (one thread): a training step (forward, anchor and RoI matching
 * and sampling, losses, backward, AdamW) and inference (proposals, box head, per-class NMS), interleaved round by
 * round with the same model in PyTorch (bench/reference.py: torchvision's FasterRCNN, float32, persistent
 * workers at 1 and 2 threads with OMP_WAIT_POLICY=PASSIVE). Reports per case the median of the per-round ratios
 * ours / PyTorch with their min-max, the median times, the load average before and after, our DCN variants'
 * times (no PyTorch counterpart in torchvision), and the tensor count across training steps, which must stay flat.
 * Run under the shared lock: flock /tmp/deformjs-bench.lock pnpm bench
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, Rng } from '@deformjs/core';
import { REFERENCE_PYTHON, hasTorch, reportBench } from '@deformjs/core/node';
import { AdamW } from '@deformjs/nn';
import { FASTER_RCNN_SMALL, FasterRCNN, trainStep, type FasterRcnnBatch, type FasterRcnnConfig } from '../src/index';

const SIZE = 128;
const ROUNDS = 7;
const LEAK_STEPS = 20;

/** A PyTorch worker kept alive across rounds: one command in, one timing out. */
class TorchWorker {
  private readonly process: ChildProcessWithoutNullStreams;
  private readonly lines: AsyncIterableIterator<string>;

  constructor(readonly threads: number) {
    const script = fileURLToPath(new URL('./reference.py', import.meta.url));
    this.process = spawn(REFERENCE_PYTHON, [script, String(threads), String(SIZE)], {
      env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE', OMP_NUM_THREADS: String(threads) },
    });
    this.process.stderr.on('data', (d) => process.stderr.write(d));
    this.lines = createInterface({ input: this.process.stdout })[Symbol.asyncIterator]();
  }

  async run(command: 'train' | 'infer'): Promise<number> {
    this.process.stdin.write(`${command}\n`);
    const { value, done } = await this.lines.next();
    if (done) throw new Error(`reference.py (${this.threads} threads) exited`);
    return (JSON.parse(value) as { ms: number }).ms;
  }

  close(): void {
    this.process.stdin.end();
  }
}

function batchOf(rng: Rng): FasterRcnnBatch {
  const scale = SIZE / 128;
  return {
    images: rng.normalTensor([1, SIZE, SIZE, 3]),
    imageSizes: [[SIZE, SIZE]],
    targets: [
      {
        boxes: Float32Array.from([10, 12, 50, 60, 60, 30, 120, 90, 5, 80, 30, 120], (v) => v * scale),
        labels: Int32Array.from([0, 2, 4]),
      },
    ],
  };
}

/** Our model's two timed operations, each returning milliseconds. */
function ours(config: FasterRcnnConfig, batch: FasterRcnnBatch) {
  const model = new FasterRCNN(config);
  const optimizer = new AdamW([{ params: model.trainableVariables() }], { lr: 1e-4, weightDecay: 1e-4 });
  const time = (f: () => void) => {
    const start = performance.now();
    f();
    return performance.now() - start;
  };
  return {
    model,
    optimizer,
    train: () => time(() => trainStep(model, optimizer, batch)),
    infer: () =>
      time(() => {
        model.eval();
        model.detect(batch.images, batch.imageSizes);
      }),
    dispose: () => (optimizer.dispose(), model.dispose()),
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;
const loadAverage = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

async function main(): Promise<void> {
  await initBackend('wasm');
  const batch = batchOf(new Rng(0));
  const plain = ours(FASTER_RCNN_SMALL, batch);
  const dcn = ours(
    {
      ...FASTER_RCNN_SMALL,
      dcn: { stages: 'c3-c5', version: 2, deformGroups: 1 },
      roi: { ...FASTER_RCNN_SMALL.roi, pooling: 'mdpool' },
    },
    batch,
  );
  const workers = hasTorch() ? [new TorchWorker(1), new TorchWorker(2)] : [];
  const loadBefore = loadAverage();
  const cases = ['train', 'infer'] as const;
  const times: Record<string, number[]> = {};
  const record = (key: string, ms: number) => (times[key] ??= []).push(ms);
  for (let round = -2; round < ROUNDS; round++) {
    // Two warm-up rounds, then alternate ours and each PyTorch worker case by case.
    for (const c of cases) {
      const mine = c === 'train' ? plain.train() : plain.infer();
      const mineDcn = c === 'train' ? dcn.train() : dcn.infer();
      const theirs: number[] = [];
      for (const w of workers) theirs.push(await w.run(c));
      if (round < 0) continue;
      record(`ours ${c}`, mine);
      record(`ours dcn ${c}`, mineDcn);
      workers.forEach((w, i) => {
        record(`torch${w.threads} ${c}`, theirs[i]);
        record(`ratio${w.threads} ${c}`, mine / theirs[i]);
      });
    }
  }
  const loadAfter = loadAverage();
  workers.forEach((w) => w.close());

  // Tensor count across more training steps: it must not grow.
  const counts: number[] = [];
  for (let i = 0; i < LEAK_STEPS; i++) {
    plain.train();
    counts.push(tf.memory().numTensors);
  }
  const flat = counts.every((c) => c === counts[0]);

  const load = `${loadBefore} / ${loadAfter}`;
  const rows = cases.flatMap((c) => [
    ...workers.map((w) => {
      const ratios = times[`ratio${w.threads} ${c}`];
      return {
        case: `Faster R-CNN small ${c} 1x${SIZE}x${SIZE} vs PyTorch ${w.threads} thread${w.threads > 1 ? 's' : ''}`,
        oursMs: round(median(times[`ours ${c}`]), 1),
        referenceMs: round(median(times[`torch${w.threads} ${c}`]), 1),
        ratio: round(median(ratios)),
        ratioMin: round(Math.min(...ratios)),
        ratioMax: round(Math.max(...ratios)),
        load,
      };
    }),
    {
      case: `DCNv2 c3-c5 + mdpool ${c} 1x${SIZE}x${SIZE} (ours only)`,
      oursMs: round(median(times[`ours dcn ${c}`]), 1),
      referenceMs: null,
      ratio: null,
      ratioMin: null,
      ratioMax: null,
      load,
    },
  ]);
  reportBench('dcnv2-rcnn', rows);
  console.log(`${ROUNDS} rounds; load average (1, 5, 15 min) before / after: ${load}`);
  console.log(
    `tensor count over ${LEAK_STEPS} training steps: first ${counts[0]}, last ${counts[counts.length - 1]} (${flat ? 'flat' : 'NOT FLAT'})`,
  );
  if (!flat) process.exitCode = 1;
  plain.dispose();
  dcn.dispose();
  batch.images.dispose();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
