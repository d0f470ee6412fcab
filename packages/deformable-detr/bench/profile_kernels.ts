/**
 * Per-kernel time of Deformable DETR small's training step at one wasm thread count (DEFORMJS_THREADS), from
 * tf.profile: which kernels gain or lose with threads. Prints JSON (kernel name -> calls, ms per step), and the
 * SHA-256 of every parameter after the run's steps (the same seed and steps at another thread count must give the
 * same digest where the kernels are deterministic).
 * Run after `pnpm build`: DEFORMJS_THREADS=2 npx tsx bench/profile_kernels.ts [size] [batch] [steps]
 */
import * as tf from '@tensorflow/tfjs-core';
import { createHash } from 'node:crypto';
import { initBackend, Rng, wasmThreads } from '@deformjs/core';
import { profileKernels } from '@deformjs/core/bench';
import { AdamW } from '@deformjs/nn';
import { DEFORMABLE_DETR_SMALL, DeformableDETR, SetCriterion, paramGroups, trainStep } from '../src/index';

const [size = 128, batchSize = 2, steps = 5] = process.argv.slice(2).map(Number);
await initBackend('wasm');
const rng = new Rng(0);
const model = new DeformableDETR(DEFORMABLE_DETR_SMALL);
const criterion = new SetCriterion({ numClasses: DEFORMABLE_DETR_SMALL.numClasses });
const optimizer = new AdamW(paramGroups(model), { lr: 1e-4, weightDecay: 1e-4 });
const batch = {
  images: rng.normalTensor([batchSize, size, size, 3]),
  mask: tf.zeros([batchSize, size, size], 'bool'),
  targets: Array.from({ length: batchSize }, () => ({
    boxes: Float32Array.from({ length: 12 }, (_, i) => (i % 4 < 2 ? rng.uniform(0.25, 0.75) : rng.uniform(0.05, 0.3))),
    labels: Int32Array.of(0, 2, 4),
  })),
};
for (let i = 0; i < 3; i++) trainStep(model, criterion, optimizer, batch);

const profiled = await profileKernels(() => {
  trainStep(model, criterion, optimizer, batch);
}, steps);
// The step again without the profiler, for its own wall and CPU time.
const cpu0 = process.cpuUsage();
const t0 = performance.now();
for (let s = 0; s < steps; s++) trainStep(model, criterion, optimizer, batch);
const plainWall = (performance.now() - t0) / steps;
const c = process.cpuUsage(cpu0);
const plainCpu = (c.user + c.system) / 1000 / steps;
const weights = createHash('sha256');
for (const v of model.trainableVariables()) {
  const values = v.dataSync() as Float32Array;
  weights.update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
}
console.log(
  JSON.stringify({
    threads: wasmThreads(),
    size,
    batchSize,
    steps,
    stepMs: Math.round(plainWall * 10) / 10,
    stepCpuMs: Math.round(plainCpu * 10) / 10,
    cpuPerWall: Math.round((plainCpu / plainWall) * 100) / 100,
    profiledStepMs: profiled.profiledMs,
    profiledCpuPerWall: Math.round((profiled.profiledCpuMs / profiled.profiledMs) * 100) / 100,
    kernelMs: profiled.kernelMs,
    load: (await import('node:os')).loadavg()[0],
    weightsSha256: weights.digest('hex'),
    kernels: profiled.kernels,
  }),
);
