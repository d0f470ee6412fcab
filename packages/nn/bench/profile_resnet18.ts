/**
 * Per-kernel time of ResNet-18's forward + backward on one 320x320 image (train mode, gradients of every
 * parameter) at one wasm thread count (DEFORMJS_THREADS), from tf.profile: which kernels dominate and which gain
 * from threads. Prints JSON (kernel name -> calls, ms per step, and the step's CPU time / wall time).
 * Run after `pnpm build`: DEFORMJS_THREADS=2 npx tsx bench/profile_resnet18.ts [size] [steps]
 */
import * as tf from '@tensorflow/tfjs-core';
import { loadavg } from 'node:os';
import { initBackend, Rng, wasmThreads } from '@deformjs/core';
import { profileKernels } from '@deformjs/core/bench';
import { resnet } from '../src/index';

const [size = 320, steps = 3] = process.argv.slice(2).map(Number);
await initBackend('wasm');
const rng = new Rng(0);
const model = resnet({ depth: 18, returnFeatures: ['C5'] }).train();
const x = rng.normalTensor([1, size, size, 3]);
const step = () => {
  const { value, grads } = tf.variableGrads(
    () => tf.sum(model.forward(x).C5!) as tf.Scalar,
    model.trainableVariables(),
  );
  Object.values(grads).forEach((g) => g.dataSync());
  tf.dispose([value, ...Object.values(grads)]);
};
for (let i = 0; i < 2; i++) step();

const profiled = await profileKernels(step, steps);
const cpu0 = process.cpuUsage();
const t0 = performance.now();
for (let s = 0; s < steps; s++) step();
const wall = (performance.now() - t0) / steps;
const c = process.cpuUsage(cpu0);
const cpu = (c.user + c.system) / 1000 / steps;
const round = (v: number) => Math.round(v * 10) / 10;
console.log(
  JSON.stringify({
    threads: wasmThreads(),
    size,
    steps,
    stepMs: round(wall),
    cpuPerWall: Math.round((cpu / wall) * 100) / 100,
    load: loadavg()[0],
    kernelMs: profiled.kernelMs,
    kernels: profiled.kernels,
  }),
);
