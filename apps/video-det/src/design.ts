import type * as tf from '@tensorflow/tfjs-core';
import { argumentError, type Module, type Rng } from '@deformjs/core';
import type { Detections, FasterRcnnTarget } from '@deformjs/dcnv2-rcnn';
import type { NormKind } from '@deformjs/nn';
import type { Timer } from '@deformjs/video-det';

/** One training clip as the trainer hands it to a design: the anchor frame first, then its references. */
export interface TrainingClip {
  /** [1, H, W, 3] normalised frames, zero-padded to multiples of 64 (FlowNet's stride), one augmentation for all. */
  frames: tf.Tensor4D[];
  /** Each frame's offset from the anchor (0 first), as `ClipSampler` drew them. */
  offsets: number[];
  /** The frames' size before padding (all frames of a clip share it). */
  imageSize: [number, number];
  /** The anchor's boxes (xyxy pixels) and labels. */
  target: FasterRcnnTarget;
  /** Every frame's annotated boxes (xyxy pixels, augmented as the frames) and track ids, in `frames` order. */
  objects: { boxes: Float32Array; trackIds?: Int32Array }[];
}

/** A video's detections frame by frame, and which frames ran the whole feature network (key frames). */
export interface VideoDetections {
  detections: Detections[];
  keyFrames: boolean[];
  /** Per frame, the fraction of positions whose features were recomputed (partial updating designs). */
  updated?: number[];
  /** Tracking designs: per frame, the track id of each detection. */
  trackIds?: Int32Array[];
}

/**
 * A built design, as the trainer, the evaluator and `run` see it. They own the loops (optimizer, schedule,
 * checkpoints, clips, timing, metrics); the design owns everything model-specific.
 */
export interface VideoDesign {
  /** Parameters and buffers: what a checkpoint saves (PyTorch names; the detector under `detector.`). */
  readonly model: Module;
  /** Generators whose state a checkpoint saves so a resumed run continues bit for bit. */
  rngs(): Record<string, Rng>;
  restoreRngs(states: Record<string, number[]>): void;
  /** The training loss of the clip's anchor; runs inside `tf.variableGrads` with the model in train mode. */
  loss(clip: TrainingClip): { loss: tf.Scalar; components: Record<string, tf.Scalar> };
  /**
   * Inference (eval mode) on every frame of one video, in order, streaming as the design does online.
   * `inference` holds the design's own inference options (defaults filled in); `timer` measures components.
   */
  detectVideo(
    frames: readonly tf.Tensor4D[],
    imageSize: [number, number],
    inference: Record<string, number>,
    timer: Timer,
  ): VideoDetections;
}

/** An inference setting a design reads (`--infer name=value`), checked against its bounds. */
export interface InferenceOption {
  default: number;
  min: number;
  max: number;
  integer: boolean;
  help: string;
}

/** The settings every design turns into its own configuration. */
export interface ConfigOptions {
  /** Detector preset (`--preset`: tiny, small or mobile); a design picks its own when not given. */
  preset?: string;
  /** Backbone width (`--width`: ResNet width or MobileNet stem channels); the preset's when not given. */
  width?: number;
  /** Backbone norm (`--norm`: batch, frozen or instance, @deformjs/nn's `NormKind`); the preset's when not given. */
  norm?: NormKind;
  /** Flow network width (`--flow-width`: channels of FlowNet-S's or Light Flow's conv1). */
  flowWidth: number;
  numClasses: number;
  seed: number;
}

/**
 * A kind of video design the app can train: registered once in `designs/index.ts`, selected with `--design`.
 * `Config` is a plain JSON object: checkpoints store it and `build(validate(stored))` rebuilds the model.
 */
export interface VideoDesignKind<Config = unknown> {
  /** The `--design` name, also stored in checkpoints. */
  name: string;
  /** For people: progress bars, tables. */
  label: string;
  /** Training clips: references per anchor and the range of their offsets (ClipSampler's). */
  clip: { references: number; range: [number, number] };
  /** Inference options by name (empty for a design without any). */
  inference: Record<string, InferenceOption>;
  config(options: ConfigOptions): Config;
  /**
   * Checks a configuration read from a file (a checkpoint: untrusted) before anything is allocated. Throws
   * naming the field; returns it typed.
   */
  validate(config: unknown, source: string): Config;
  numClasses(config: Config): number;
  build(config: Config): VideoDesign;
}

/**
 * A design's inference options: its defaults, replaced by `given` (name -> value). An unknown name or a value
 * out of bounds is an error naming the option, the design, the expected and the actual value.
 */
export function inferenceSettings(kind: VideoDesignKind, given: Record<string, number>): Record<string, number> {
  const settings = Object.fromEntries(Object.entries(kind.inference).map(([name, o]) => [name, o.default]));
  for (const [name, value] of Object.entries(given)) {
    const option = kind.inference[name];
    const op = `${kind.label} inference`;
    if (!option)
      throw argumentError(
        op,
        name,
        Object.keys(kind.inference).length ? `one of ${Object.keys(kind.inference).join(', ')}` : 'no option',
        name,
      );
    if (!(value >= option.min && value <= option.max) || (option.integer && !Number.isInteger(value)))
      throw argumentError(
        op,
        name,
        `${option.integer ? 'an integer' : 'a number'} in [${option.min}, ${option.max}]`,
        value,
      );
    settings[name] = value;
  }
  return settings;
}
