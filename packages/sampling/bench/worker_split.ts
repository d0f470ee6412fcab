/**
 * Does splitting the sampling core across threads pay? The bilinear gather forward and backward of an MSDA encoder
 * (levels 64/32/16/8, Lq = S = 5440, 8 groups, 32 channels, 4 points) through core's runSplit, on the calling
 * thread alone and split with the worker of a 2-thread wasm backend, over views of one SharedArrayBuffer (as the
 * threaded build's heap is). Checks the split result is bit-identical, times a dispatch with no work, and
 * alternates the two ways round by round. Prints JSON.
 * Run after `pnpm build`: npx tsx bench/worker_split.ts [rounds]
 */
import { loadavg } from 'node:os';
import { initBackend, runSplit, type SplitKernel } from '@deformjs/core';
import { Corners, bilinearGatherBackwardImpl, bilinearGatherForwardImpl } from '../src/bilinear_gather_impl';

const rounds = Number(process.argv[2] ?? 15);
await initBackend('wasm', { threads: 2 });

const LEVELS = [64, 32, 16, 8];
const S = LEVELS.reduce((sum, h) => sum + h * h, 0);
const dims = { B: 1, S, G: 8, C: 32, Q: S, L: 4, P: 4 };
const flags = { normalized: true, reduce: 'sum' as const, weighted: true };
const samples = dims.B * dims.Q * dims.G * dims.L * dims.P;
const sizes = [S * 256, 8, 4, 2 * samples, samples, dims.Q * 256, dims.Q * 256, S * 256, 2 * samples, samples];
const heap = new SharedArrayBuffer(4 * sizes.reduce((a, b) => a + b, 0));
let offset = 0;
const views = sizes.map((n, i) => {
  const view = i === 1 || i === 2 ? new Int32Array(heap, offset, n) : new Float32Array(heap, offset, n);
  offset += 4 * n;
  return view;
});
const [value, shapes, starts, locations, weights, out, gradOut, gradValue, gradLocations, gradWeights] = views as [
  Float32Array,
  Int32Array,
  Int32Array,
  Float32Array,
  Float32Array,
  Float32Array,
  Float32Array,
  Float32Array,
  Float32Array,
  Float32Array,
];
let seed = 1;
const random = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296;
LEVELS.forEach((h, l) => shapes.set([h, h], 2 * l));
LEVELS.reduce((start, h, l) => ((starts[l] = start), start + h * h), 0);
for (const a of [value, gradOut]) a.forEach((_, i) => (a[i] = random() - 0.5));
locations.forEach((_, i) => (locations[i] = random() * 1.1 - 0.05));
weights.forEach((_, i) => (weights[i] = random() / 16));

const FORWARD: SplitKernel = { name: 'benchForward', run: bilinearGatherForwardImpl, uses: [Corners] };
const BACKWARD: SplitKernel = { name: 'benchBackward', run: bilinearGatherBackwardImpl, uses: [Corners] };
const NOTHING: SplitKernel = { name: 'benchNothing', run: () => {} };
const outputs = [out, gradValue, gradLocations, gradWeights];
const units = dims.B * dims.G;
const forward = (split: boolean) => {
  out.fill(0);
  runSplit(FORWARD, [value, shapes, starts, locations, weights, out, dims, flags], units, split);
};
const backward = (split: boolean) => {
  outputs.slice(1).forEach((a) => a.fill(0));
  runSplit(
    BACKWARD,
    [value, shapes, starts, locations, weights, gradOut, ...outputs.slice(1), dims, flags],
    units,
    split,
  );
};

forward(false);
backward(false);
const single = outputs.map((a) => a.slice());
forward(true);
backward(true);
const identical = outputs.every((a, i) => Buffer.from(a.slice().buffer).equals(Buffer.from(single[i].buffer)));

const time = (f: () => void) => {
  const start = performance.now();
  f();
  return performance.now() - start;
};
const t: Record<string, number[]> = { wake: [], f1: [], f2: [], b1: [], b2: [], load: [] };
for (let round = -2; round < rounds; round++) {
  const row = {
    wake: time(() => runSplit(NOTHING, [value], 2, true)),
    f1: time(() => forward(false)),
    f2: time(() => forward(true)),
    b1: time(() => backward(false)),
    b2: time(() => backward(true)),
    load: loadavg()[0],
  };
  if (round >= 0) for (const [k, v] of Object.entries(row)) t[k].push(v);
}
const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];
const ratio = (a: number[], b: number[]) => {
  const r = a.map((x, i) => x / b[i]);
  return { median: median(r), min: Math.min(...r), max: Math.max(...r) };
};
console.log(
  JSON.stringify({
    identical,
    rounds,
    wakeUpMs: median(t.wake),
    forwardMs: { oneThread: median(t.f1), split: median(t.f2) },
    backwardMs: { oneThread: median(t.b1), split: median(t.b2) },
    splitOverOneThread: { forward: ratio(t.f2, t.f1), backward: ratio(t.b2, t.b1) },
    load: [Math.min(...t.load), Math.max(...t.load)],
  }),
);
