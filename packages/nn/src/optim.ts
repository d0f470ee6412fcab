import * as tf from '@tensorflow/tfjs-core';
import { argumentError, assertPositive } from '@deformjs/core';

/** The state an optimizer saves in a checkpoint (matches @deformjs/weights' CheckpointableOptimizer). */
export interface OptimizerState {
  tensors: Record<string, tf.Tensor>;
  meta: unknown;
}

export interface ParamGroup {
  params: tf.Variable[];
  /** Multiplies the optimizer's learning rate for this group (DETR: backbone 0.1, sampling offsets 0.1). */
  lrScale?: number;
  /** Decoupled weight decay of this group (default: the optimizer's). */
  weightDecay?: number;
}

export interface AdamWOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

interface Slot {
  param: tf.Variable;
  group: number;
  m: tf.Variable | null;
  v: tf.Variable | null;
  step: number;
}

/**
 * torch.optim.AdamW: Adam with decoupled weight decay (p <- p - lr*wd*p before the Adam step), bias-corrected
 * moments, per-parameter step counts (a parameter without a gradient does not step). Parameter groups carry
 * their own learning-rate multiplier and weight decay. `lr` is the base rate a schedule sets each step.
 */
export class AdamW {
  lr: number;
  readonly betas: [number, number];
  readonly eps: number;
  readonly groups: Array<{ lrScale: number; weightDecay: number }>;
  private readonly slots: Slot[] = [];
  private readonly byName = new Map<string, Slot>();

  constructor(params: tf.Variable[] | ParamGroup[], options: AdamWOptions = {}) {
    this.lr = options.lr ?? 1e-3;
    this.betas = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    const weightDecay = options.weightDecay ?? 1e-2;
    if (!(this.lr >= 0)) throw argumentError('AdamW', 'lr', 'a number >= 0', this.lr);
    for (const b of this.betas)
      if (!(b >= 0 && b < 1)) throw argumentError('AdamW', 'betas', 'two numbers in [0, 1)', this.betas);
    assertPositive('AdamW', 'eps', this.eps);
    const groups: ParamGroup[] =
      params.length > 0 && params[0] instanceof tf.Variable
        ? [{ params: params as tf.Variable[] }]
        : (params as ParamGroup[]);
    this.groups = groups.map((g) => ({ lrScale: g.lrScale ?? 1, weightDecay: g.weightDecay ?? weightDecay }));
    groups.forEach((g, gi) => {
      for (const param of g.params) {
        if (this.byName.has(param.name))
          throw new Error(`AdamW: variable '${param.name}' appears in more than one group`);
        const slot: Slot = { param, group: gi, m: null, v: null, step: 0 };
        this.slots.push(slot);
        this.byName.set(param.name, slot);
      }
    });
  }

  /**
   * One step from gradients keyed by variable name (what tf.variableGrads returns). Variables without a
   * gradient are left alone. The caller keeps and disposes `grads`.
   */
  step(grads: Record<string, tf.Tensor>): void {
    const [b1, b2] = this.betas;
    for (const name of Object.keys(grads)) {
      if (!this.byName.has(name))
        throw new Error(`AdamW.step: a gradient for '${name}', which is in no parameter group`);
    }
    for (const slot of this.slots) {
      const g = grads[slot.param.name];
      if (g === undefined) continue;
      const { lrScale, weightDecay } = this.groups[slot.group];
      const lr = this.lr * lrScale;
      slot.step += 1;
      if (slot.m === null || slot.v === null) {
        slot.m = zeroVariable(slot.param);
        slot.v = zeroVariable(slot.param);
      }
      const bias1 = 1 - b1 ** slot.step;
      const bias2 = 1 - b2 ** slot.step;
      const { m, v, param } = slot;
      tf.tidy(() => {
        const mNew = tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1));
        const vNew = tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2));
        m.assign(mNew);
        v.assign(vNew);
        const decayed = weightDecay !== 0 ? tf.mul(param, 1 - lr * weightDecay) : param;
        const denom = tf.add(tf.div(tf.sqrt(vNew), Math.sqrt(bias2)), this.eps);
        param.assign(tf.sub(decayed, tf.mul(tf.div(mNew, denom), lr / bias1)));
      });
    }
  }

  /** Moments as `m.<i>` / `v.<i>` by parameter index (group order), steps and hyper-parameters as metadata. */
  saveState(): OptimizerState {
    const tensors: Record<string, tf.Tensor> = {};
    this.slots.forEach((s, i) => {
      if (s.m && s.v) {
        tensors[`m.${i}`] = tf.clone(s.m);
        tensors[`v.${i}`] = tf.clone(s.v);
      }
    });
    return {
      tensors,
      meta: {
        kind: 'AdamW',
        lr: this.lr,
        betas: this.betas,
        eps: this.eps,
        groups: this.groups,
        steps: this.slots.map((s) => s.step),
        shapes: this.slots.map((s) => s.param.shape),
      },
    };
  }

  loadState(state: OptimizerState): void {
    const meta = state.meta as {
      kind: string;
      lr: number;
      steps: number[];
      shapes: number[][];
      groups: Array<{ lrScale: number; weightDecay: number }>;
    };
    if (meta?.kind !== 'AdamW') throw new Error(`AdamW.loadState: state of a ${meta?.kind ?? 'unknown'} optimizer`);
    if (meta.steps.length !== this.slots.length)
      throw new Error(
        `AdamW.loadState: state for ${meta.steps.length} parameters, this optimizer has ${this.slots.length}`,
      );
    this.slots.forEach((slot, i) => {
      if (!tf.util.arraysEqual(meta.shapes[i], slot.param.shape))
        throw new Error(
          `AdamW.loadState: parameter ${i} ('${slot.param.name}') has shape [${slot.param.shape}], the state [${meta.shapes[i]}]`,
        );
      slot.step = meta.steps[i];
      slot.m?.dispose();
      slot.v?.dispose();
      const m = state.tensors[`m.${i}`];
      const v = state.tensors[`v.${i}`];
      slot.m = m ? tf.variable(m, false) : null;
      slot.v = v ? tf.variable(v, false) : null;
    });
    this.lr = meta.lr;
    meta.groups.forEach((g, i) => (this.groups[i] = { ...g }));
  }

  dispose(): void {
    for (const s of this.slots) tf.dispose([s.m, s.v].filter((t): t is tf.Variable => t !== null));
  }
}

function zeroVariable(like: tf.Tensor): tf.Variable {
  const zeros = tf.zerosLike(like);
  const variable = tf.variable(zeros, false);
  zeros.dispose();
  return variable;
}

/**
 * torch.nn.utils.clip_grad_norm_: scales every gradient by min(1, maxNorm / (totalNorm + 1e-6)), with
 * totalNorm the 2-norm of all gradients together. Returns new gradients (the caller disposes both) and the
 * norm before clipping.
 */
export function clipGradNorm(
  grads: Record<string, tf.Tensor>,
  maxNorm: number,
): { grads: Record<string, tf.Tensor>; totalNorm: number } {
  assertPositive('clipGradNorm', 'maxNorm', maxNorm);
  const names = Object.keys(grads);
  const totalNorm = tf.tidy(() =>
    Math.sqrt(names.reduce((acc, n) => acc + tf.sum(tf.square(grads[n])).dataSync()[0], 0)),
  );
  const scale = Math.min(1, maxNorm / (totalNorm + 1e-6));
  const out: Record<string, tf.Tensor> = {};
  for (const n of names) out[n] = scale < 1 ? tf.mul(grads[n], scale) : tf.clone(grads[n]);
  return { grads: out, totalNorm };
}

/** What one optimisation step reports: the minimised loss, its named terms and the gradient norm before clipping. */
export interface OptimizationStep {
  loss: number;
  components: Record<string, number>;
  /** NaN when no clipping was asked for (the norm is then not computed). */
  gradNorm: number;
  /** False when the loss (or, with clipping, the gradient norm) was not finite: the optimizer was then not stepped. */
  applied: boolean;
}

/**
 * One optimisation step, the same for every trainer: gradients of `computeLosses().loss` with respect to
 * `variables`, clipped to `clipMaxNorm` (0 = no clipping), then `optimizer.step`, unless the loss or the gradient
 * norm is not finite: one such update would write NaN into every weight and both AdamW moments, so the step is
 * skipped and `applied` says so (trainers stop on it, naming the step). The reported terms are kept past the
 * gradient scope to be read; every tensor the step made is released.
 */
export function optimizationStep(
  computeLosses: () => { loss: tf.Scalar; components: Record<string, tf.Scalar> },
  variables: tf.Variable[],
  optimizer: AdamW,
  clipMaxNorm: number,
): OptimizationStep {
  let components: Record<string, tf.Scalar> = {};
  const { value, grads } = tf.variableGrads(() => {
    const result = computeLosses();
    components = result.components;
    Object.values(components).forEach((t) => tf.keep(t));
    return result.loss;
  }, variables);
  let gradNorm = NaN;
  let update = grads;
  if (clipMaxNorm > 0) {
    const clipped = clipGradNorm(grads, clipMaxNorm);
    gradNorm = clipped.totalNorm;
    update = clipped.grads;
  }
  const loss = value.dataSync()[0];
  const finite = Number.isFinite(loss) && (clipMaxNorm <= 0 || Number.isFinite(gradNorm));
  if (finite) optimizer.step(update);
  const numbers = Object.fromEntries(Object.entries(components).map(([k, v]) => [k, v.dataSync()[0]]));
  tf.dispose([
    value,
    ...Object.values(grads),
    ...(update === grads ? [] : Object.values(update)),
    ...Object.values(components),
  ]);
  return { loss, components: numbers, gradNorm, applied: finite };
}

/** A learning rate as a function of the (0-based) step. */
export type LrSchedule = (step: number) => number;

/** Multiplies `base` by `gamma` at each milestone step (DETR: lr drop at epoch 40). */
export function stepSchedule(base: number, milestones: number[], gamma = 0.1): LrSchedule {
  return (step) => base * gamma ** milestones.filter((m) => step >= m).length;
}

/** Cosine annealing from `base` at step 0 to `min` at `total` steps (and after). */
export function cosineSchedule(base: number, total: number, min = 0): LrSchedule {
  assertPositive('cosineSchedule', 'total', total);
  return (step) => min + 0.5 * (base - min) * (1 + Math.cos((Math.PI * Math.min(step, total)) / total));
}

/**
 * Linear warmup into another schedule: for step < `warmup` the rate rises linearly from
 * `startFactor * after(0)` towards `after(0)`; from then on `after(step - warmup)`.
 */
export function linearWarmup(after: LrSchedule, warmup: number, startFactor = 0.001): LrSchedule {
  return (step) =>
    step < warmup ? after(0) * (startFactor + (1 - startFactor) * (step / warmup)) : after(step - warmup);
}
