import { argumentError, assertInteger, Rng } from '@deformjs/core';
import { AUGMENT_STREAM, mixSeed, ORDER_STREAM } from './loader';
import { applyTransforms, validateTransforms, type TransformSpec } from './transforms';
import type { Sample } from './types';
import type { VidDataset } from './vid';

/** The random stream of the reference draws, apart from the loader's order and augmentation streams. */
const REFERENCE_STREAM = 3;

export interface ClipSamplerOptions {
  /** Reference frames per clip (DFF trains with 1 key frame, FGFA with 2 neighbours). */
  references: number;
  /**
   * Offsets of the references from the anchor frame, drawn uniformly from [low, high] and clamped to the video:
   * DFF's key frame [-9, 0], FGFA's neighbours [-9, 9].
   */
  range: readonly [number, number];
  /** One pipeline, applied with the same random draws to every frame of a clip. */
  transforms: readonly TransformSpec[];
  /** Fixes the anchor order, the references and the augmentation of every epoch. */
  seed: number;
  /** Reshuffle the anchors every epoch (default true). */
  shuffle?: boolean;
}

/** Which frames make a clip: record indices, the anchor first, then its references. */
export interface ClipSpec {
  epoch: number;
  anchor: number;
  frames: number[];
  /** Frame offsets of `frames` from the anchor (0 first). */
  offsets: number[];
}

export interface Clip extends ClipSpec {
  /** The decoded, augmented frames in the order of `frames`; one augmentation for all of them. */
  samples: Sample[];
}

/**
 * Clips for training video detectors: every annotated frame is an anchor once per epoch, with references drawn
 * from its own video, and ONE augmentation applied to all frames of the clip (the same flip, crop and scale), as
 * the flow between them must stay the true motion. `DataLoader` augments images independently and is for still
 * images. Everything depends only on (seed, epoch, anchor), so a run resumes exactly.
 */
export class ClipSampler {
  private readonly videoOf: Int32Array;
  private readonly positionOf: Int32Array;

  constructor(
    readonly dataset: VidDataset,
    readonly options: ClipSamplerOptions,
  ) {
    const op = 'ClipSampler';
    assertInteger(op, 'references', options.references, 0);
    assertInteger(op, 'seed', options.seed, 0, 0xffffffff);
    const [low, high] = options.range ?? [];
    if (!(Number.isInteger(low) && Number.isInteger(high) && low <= high))
      throw argumentError(op, 'range', 'integer offsets [low, high] with low <= high', options.range);
    validateTransforms(options.transforms, op);
    if (dataset.records.length === 0) throw argumentError(op, 'dataset', 'at least one frame', 'none');
    this.videoOf = new Int32Array(dataset.records.length).fill(-1);
    this.positionOf = new Int32Array(dataset.records.length);
    dataset.videos.forEach((video, v) =>
      video.frames.forEach((record, position) => {
        this.videoOf[record] = v;
        this.positionOf[record] = position;
      }),
    );
  }

  /** The clips of `epoch`, in order: one per frame of the dataset. */
  clips(epoch: number): ClipSpec[] {
    assertInteger('ClipSampler.clips', 'epoch', epoch, 0);
    const anchors = Array.from(this.dataset.records, (_, i) => i);
    const order =
      this.options.shuffle === false
        ? anchors
        : new Rng(mixSeed(this.options.seed, epoch, ORDER_STREAM)).shuffle(anchors);
    return order.map((anchor) => this.clip(epoch, anchor));
  }

  /** The clip anchored at record `anchor` in `epoch`. */
  clip(epoch: number, anchor: number): ClipSpec {
    const video = this.dataset.videos[this.videoOf[anchor]];
    if (!video) throw argumentError('ClipSampler.clip', 'anchor', 'a record index inside one of the videos', anchor);
    const rng = new Rng(mixSeed(this.options.seed, epoch, REFERENCE_STREAM, anchor));
    const [low, high] = this.options.range;
    const position = this.positionOf[anchor];
    const offsets = [0];
    for (let r = 0; r < this.options.references; r++) {
      const target = Math.min(video.frames.length - 1, Math.max(0, position + low + rng.int(high - low + 1)));
      offsets.push(target - position);
    }
    return { epoch, anchor, offsets, frames: offsets.map((d) => video.frames[position + d]) };
  }

  /** Decodes a clip's frames and augments them all with the same draws. */
  async load(spec: ClipSpec): Promise<Clip> {
    const decoded = await Promise.all(spec.frames.map((i) => this.dataset.get(i)));
    const { width, height } = decoded[0];
    decoded.forEach((s, i) => {
      if (s.width !== width || s.height !== height)
        throw argumentError(
          'ClipSampler.load',
          `frame ${String(s.id)}`,
          `the size of the anchor ${String(decoded[0].id)} (${width} x ${height}), one augmentation per clip`,
          `${s.width} x ${s.height} (clip frame ${i})`,
        );
    });
    const state = new Rng(mixSeed(this.options.seed, spec.epoch, AUGMENT_STREAM, spec.anchor)).state();
    const samples = decoded.map((s) => applyTransforms(s, this.options.transforms, new Rng(state)));
    return { ...spec, samples };
  }
}
