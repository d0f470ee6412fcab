import type * as tf from '@tensorflow/tfjs-core';
import { argumentError, type Module, type Rng } from '@deformjs/core';
import type { Batch } from '@deformjs/datasets';
import type { ParamGroup } from '@deformjs/nn';
import type { BackboneConfig } from '@deformjs/deformable-detr';

/** One image's detections: K scores, labels (0-based contiguous classes) and K x 4 xyxy boxes in stored pixels. */
export interface Detections {
  scores: Float32Array;
  labels: Int32Array;
  boxes: Float32Array;
}

/** The learning-rate knobs a detector maps onto its parameter groups (each uses those that apply to it). */
export interface GroupOptions {
  /** Multiplier of the backbone's learning rate. */
  lrBackbone: number;
  /** Multiplier of the deformable sampling layers' learning rate (offsets, reference points). */
  lrLinearProj: number;
  /** Leave the backbone's stem and first stage out of training. */
  freezeStem: boolean;
}

/** Weights of the training loss that `train` can change; absent fields keep the detector's own. */
export interface LossOptions {
  /** Weight of the classification loss (upstream DETRs' `cls_loss_coef`; the matching cost keeps its own). */
  clsLossCoef?: number;
}

/**
 * A built detector, as the trainer sees it. The trainer owns the loop (optimizer, schedule, clipping,
 * checkpoints, evaluation); the detector owns everything model-specific.
 */
export interface Detector {
  /** Parameters and buffers: what a checkpoint saves (`model.stateDict()`, PyTorch names). */
  readonly model: Module;
  /** Generators whose state a checkpoint saves so a resumed run continues bit for bit (dropout, samplers). */
  rngs(): Record<string, Rng>;
  /** Continues each generator from the state `rngs()` had when the checkpoint was saved. */
  restoreRngs(states: Record<string, number[]>): void;
  /** The optimizer's parameter groups: every trained variable exactly once. */
  paramGroups(options: GroupOptions): ParamGroup[];
  /**
   * The training loss on a loader batch (padded NHWC images, targets in both box formats, crowd flags). Runs
   * inside `tf.variableGrads` with the model in train mode: build the inputs from the batch here.
   */
  loss(batch: Batch): { loss: tf.Scalar; components: Record<string, tf.Scalar> };
  /** Inference (eval mode) on a batch: per image, boxes in the pixels of `batch.targets[i].origSize`. */
  detect(batch: Batch): Detections[];
}

/** The settings every detector turns into its own configuration. */
export interface ConfigOptions {
  preset: string;
  variant: string;
  numClasses: number;
  seed: number;
}

/**
 * A kind of detector the app can train: registered once in `detectors/index.ts`, selected with `--model`.
 * `Config` is a plain JSON object: checkpoints store it, and `build(validate(stored))` rebuilds the model.
 */
export interface DetectorKind<Config = unknown> {
  /** The `--model` name, also stored in checkpoints. */
  name: string;
  /** For people: progress bars, tables, plots. */
  label: string;
  /** `--preset` values (first is the default). */
  presets: readonly string[];
  /** `--variant` values (first is the default). */
  variants: readonly string[];
  /** Training defaults that differ from the app's (the detector's published recipe); flags override them. */
  defaults?: Partial<Record<'lr' | 'lrBackbone' | 'lrLinearProj' | 'weightDecay' | 'clip' | 'warmup', number>>;
  /** The classification-loss weight of the detector's published recipe; absent: `--cls-loss-coef` is refused. */
  clsLossCoef?: number;
  config(options: ConfigOptions): Config;
  /**
   * Where the detector keeps a torchvision ResNet that `pretrain-backbone` files load into (`--backbone-weights`):
   * its state_dict prefix and its shape in a configuration. Absent: the detector takes no backbone file.
   */
  backbone?: { prefix: string; shape(config: Config): BackboneConfig };
  /**
   * Checks a configuration read from a file (a checkpoint: untrusted) before anything is allocated: every
   * field present with the right type and within sane bounds. Throws naming the field; returns it typed.
   */
  validate(config: unknown, source: string): Config;
  numClasses(config: Config): number;
  /** The detector of `config`; `loss` reweights its training loss (inference ignores it). */
  build(config: Config, loss?: LossOptions): Detector;
}

/**
 * Checks that each named field of `config` is an integer within [min, max]: the fields that size tensors, so
 * a crafted file (numQueries 3e6) is refused before it allocates gigabytes.
 */
export function checkBounds(
  op: string,
  config: Record<string, unknown>,
  bounds: Record<string, [number, number]>,
): void {
  for (const [field, [min, max]] of Object.entries(bounds)) {
    const value = config[field];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
      throw argumentError(op, `config.${field}`, `an integer in [${min}, ${max}]`, value);
  }
}
