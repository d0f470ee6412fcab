import * as tf from '@tensorflow/tfjs-core';
// After tfjs-core itself: imported first, it leaves tfjs's chained ops (tensor.clone) unset.
import { describe, expect, it } from 'vitest';
import { initBackend } from '@deformjs/core';
import { TEST_BACKENDS, assertAllClose, assertNoTensorLeak } from '@deformjs/core/testing';
import { AdamW, clipGradNorm, cosineSchedule, linearWarmup, optimizationStep, stepSchedule } from '../src/index';
import { fixture } from './helpers';

const fx = fixture('adamw.json');

function setup() {
  const p0 = tf.variable(tf.tensor(fx.init[0], [3, 4]));
  const p1 = tf.variable(tf.tensor(fx.init[1], [4]));
  const p2 = tf.variable(tf.tensor(fx.init[2], [2, 2]));
  const x = tf.tensor(fx.x, [5, 3]);
  const t = tf.tensor(fx.t, [5, 4]);
  const loss = () =>
    tf.add(tf.sum(tf.square(tf.sub(tf.add(tf.matMul(x, p0), p1), t))), tf.mul(tf.sum(tf.sin(p2)), 3)) as tf.Scalar;
  const optimizer = new AdamW(
    [
      { params: [p0, p1], weightDecay: 1e-2 },
      { params: [p2], weightDecay: 0, lrScale: 0.1 },
    ],
    { lr: fx.baseLr, betas: [0.9, 0.99], eps: 1e-8 },
  );
  const schedule = linearWarmup(cosineSchedule(fx.baseLr, fx.total - fx.warmup), fx.warmup, 0.1);
  const trainStep = (step: number) => {
    optimizer.lr = schedule(step);
    const { value, grads } = tf.variableGrads(loss, [p0, p1, p2]);
    const clipped = clipGradNorm(grads, 2.0);
    optimizer.step(clipped.grads);
    tf.dispose([value, grads, clipped.grads]);
    return clipped.totalNorm;
  };
  return {
    params: [p0, p1, p2],
    x,
    t,
    optimizer,
    schedule,
    trainStep,
    dispose: () => (optimizer.dispose(), tf.dispose([p0, p1, p2, x, t])),
  };
}

for (const backend of TEST_BACKENDS) {
  describe(`AdamW on ${backend}`, () => {
    it('equals torch.optim.AdamW with groups, clip_grad_norm_ and warmup + cosine, with a flat tensor count', async () => {
      await initBackend(backend);
      const run = setup();
      for (let step = 0; step < fx.total; step++) {
        expect(run.schedule(step)).toBeCloseTo(fx.lrs[step], 12);
        const before = tf.memory().numTensors;
        const norm = step === 0 ? run.trainStep(step) : await assertNoTensorLeak(() => run.trainStep(step));
        expect(norm).toBeCloseTo(fx.norms[step], 3);
        if (step === 0) expect(tf.memory().numTensors - before).toBe(6); // the two moments of three parameters
        run.params.forEach((p, i) =>
          assertAllClose(p, fx.trajectory[step][i], { atol: 2e-6, rtol: 1e-5, name: `step ${step} param ${i}` }),
        );
      }
      run.dispose();
    });
  });
}

describe('AdamW state', () => {
  it('saves and restores so training continues identically', async () => {
    await initBackend('cpu');
    const a = setup();
    for (let s = 0; s < 4; s++) a.trainStep(s);
    const state = a.optimizer.saveState();
    const b = setup();
    b.params.forEach((p, i) => p.assign(a.params[i]));
    b.optimizer.loadState(state);
    tf.dispose(Object.values(state.tensors));
    for (let s = 4; s < 8; s++) {
      a.trainStep(s);
      b.trainStep(s);
    }
    a.params.forEach((p, i) => expect(Array.from(b.params[i].dataSync())).toEqual(Array.from(p.dataSync())));
    expect(() => b.optimizer.step({ stranger: tf.zeros([1]) })).toThrow(
      /a gradient for 'stranger', which is in no parameter group/,
    );
    a.dispose();
    b.dispose();
  });

  it('schedules: step drops, cosine ends at min, warmup starts at startFactor', () => {
    const drop = stepSchedule(2e-4, [40], 0.1);
    expect([drop(0), drop(39), drop(40)]).toEqual([2e-4, 2e-4, 2e-4 * 0.1]);
    const cos = cosineSchedule(1, 10, 0.1);
    expect(cos(0)).toBeCloseTo(1);
    expect(cos(5)).toBeCloseTo(0.55);
    expect(cos(10)).toBeCloseTo(0.1);
    const warm = linearWarmup(() => 1, 4, 0.2);
    [0.2, 0.6, 1].forEach((v, i) => expect(warm(2 * i)).toBeCloseTo(v, 12));
    expect(() => clipGradNorm({}, 0)).toThrow(/clipGradNorm: argument 'maxNorm' expected a finite number > 0, got 0/);
  });
});

describe('optimizationStep', () => {
  it('steps on a finite loss and skips (weights and moments untouched) on a non-finite loss or gradient', async () => {
    await initBackend('cpu');
    const w = tf.variable(tf.tensor1d([1, -2]));
    const optimizer = new AdamW([{ params: [w] }], { lr: 0.1 });
    const lossOf = (scale: number) => () => ({
      loss: tf.mul(tf.sum(tf.square(w)), scale) as tf.Scalar,
      components: {},
    });
    // The first step creates AdamW's two moments; later ones leave the count flat.
    const first = optimizationStep(lossOf(1), [w], optimizer, 1);
    expect(first.applied).toBe(true);
    expect(first.loss).toBeCloseTo(5, 6);
    const afterFirst = Array.from(w.dataSync());
    const moments = optimizer.saveState();
    for (const [scale, clip] of [
      [NaN, 0],
      [Infinity, 0],
      [1e37, 1], // a finite loss (5e37) whose gradient norm overflows float32
    ] as const) {
      await assertNoTensorLeak(() => {
        expect(optimizationStep(lossOf(scale), [w], optimizer, clip).applied).toBe(false);
      });
      expect(Array.from(w.dataSync())).toEqual(afterFirst);
    }
    const after = optimizer.saveState();
    expect(after.meta).toEqual(moments.meta);
    for (const name of Object.keys(moments.tensors))
      expect(Array.from(after.tensors[name].dataSync())).toEqual(Array.from(moments.tensors[name].dataSync()));
    tf.dispose([w, ...Object.values(moments.tensors), ...Object.values(after.tensors)]);
    optimizer.dispose();
  });
});
