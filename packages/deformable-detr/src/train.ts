import type * as tf from '@tensorflow/tfjs-core';
import type { Module } from '@deformjs/core';
import { type AdamW, optimizationStep, type NoiseSource, type ParamGroup } from '@deformjs/nn';
import type { SetCriterion } from './criterion';
import type { DetectionOutputs } from './misc';
import type { DetectionTarget } from './matcher';

/** What `trainStep` and a trainer need of a model: both DETRs. */
export interface DetectionModel extends Module {
  forward(images: tf.Tensor, mask: tf.Tensor): DetectionOutputs;
  /** The dropout generator, whose state a checkpoint saves and a resumed run restores. */
  readonly noise: NoiseSource;
}

export interface ParamGroupOptions {
  /**
   * Learning-rate multiplier of `backbone.0.*` (upstream: lr_backbone / lr = 0.1). 0 freezes the backbone, as
   * upstream's `train_backbone = lr_backbone > 0`: it is left out of the groups, so no gradient flows into it.
   */
  backbone?: number;
  /** Multiplier of `sampling_offsets` and `reference_points` (upstream: lr_linear_proj_mult = 0.1). */
  linearProj?: number;
  /**
   * Leave the backbone's stem and layer1 out of training, as upstream does with its ImageNet-pretrained
   * backbone (default false: a backbone trained from scratch needs them).
   */
  freezeBackboneStem?: boolean;
}

/** Upstream's three parameter groups, each variable once (shared heads appear under several names). */
export function paramGroups(model: DetectionModel, options: ParamGroupOptions = {}): ParamGroup[] {
  const { backbone = 0.1, linearProj = 0.1, freezeBackboneStem = false } = options;
  const seen = new Set<tf.Variable>();
  const groups = { main: [] as tf.Variable[], backbone: [] as tf.Variable[], linearProj: [] as tf.Variable[] };
  for (const [name, p] of model.namedParameters()) {
    if (!p.trainable || seen.has(p.variable)) continue;
    seen.add(p.variable);
    if (name.startsWith('backbone.0.')) {
      if (backbone > 0 && !(freezeBackboneStem && !/^backbone\.0\.body\.layer[234]\./.test(name)))
        groups.backbone.push(p.variable);
    } else if (/(^|\.)(sampling_offsets|reference_points)\./.test(name)) groups.linearProj.push(p.variable);
    else groups.main.push(p.variable);
  }
  return [
    { params: groups.main },
    { params: groups.backbone, lrScale: backbone },
    { params: groups.linearProj, lrScale: linearProj },
  ].filter((g) => g.params.length > 0);
}

/** A padded batch: NHWC images, the padding mask (bool, true at padding) and each image's targets. */
export interface TrainBatch {
  images: tf.Tensor;
  mask: tf.Tensor;
  targets: readonly DetectionTarget[];
}

export interface StepResult {
  loss: number;
  /** Unweighted loss terms by upstream's names. */
  components: Record<string, number>;
  /** Gradient norm before clipping. */
  gradNorm: number;
}

/**
 * One optimisation step: forward, criterion, gradients, clip to `clipMaxNorm` (upstream 0.1; 0 = none), AdamW.
 * `variables` are those differentiated (default: every trainable one; pass the optimizer's groups' when some
 * are frozen).
 */
export function trainStep(
  model: DetectionModel,
  criterion: SetCriterion,
  optimizer: AdamW,
  batch: TrainBatch,
  options: { clipMaxNorm?: number; variables?: tf.Variable[] } = {},
): StepResult {
  const { clipMaxNorm = 0.1, variables = model.trainableVariables() } = options;
  model.train();
  return optimizationStep(
    () => criterion.forward(model.forward(batch.images, batch.mask), batch.targets),
    variables,
    optimizer,
    clipMaxNorm,
  );
}
