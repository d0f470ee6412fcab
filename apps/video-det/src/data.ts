import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@deformjs/core';
import {
  applyTransforms,
  ensureShapesDataset,
  loadImagenetVid,
  loadVideoMotion,
  SHAPE_CLASSES,
  speedBin,
  type Sample,
  type TransformSpec,
  type VidDataset,
} from '@deformjs/datasets';
import { FLOWNET_STRIDE } from '@deformjs/video-det';

export interface DataOptions {
  /** An ILSVRC folder (Annotations/VID, Data/VID) with shape-class names; default: the shapes videos. */
  vid?: string;
  /** Where the shapes videos are generated on first use. */
  cache: string;
  /** Shapes: longest frame side. */
  size: number;
  /** Shapes: training and validation videos, frames per video. */
  trainCount: number;
  valCount: number;
  frames: number;
  dataSeed: number;
  /** Shapes: motion blur exposure in [0, 1] (fast tracks smear). */
  motionBlur: number;
  /** Shapes: the largest blur-disk radius of focus events (px at 256 px; 0: always in focus). */
  defocus: number;
}

export interface VideoData {
  train: VidDataset;
  val: VidDataset;
  classes: string[];
  /** Shapes videos: each validation track's speed bin as the generator drew it (video -> track id -> bin). */
  valSpeeds?: SpeedBins;
  /** What identifies the training data: a resumed run must see the same. */
  fingerprint: Record<string, unknown>;
}

export type SpeedBins = Map<string, Map<number, 'slow' | 'medium' | 'fast'>>;

export const TRAIN_TRANSFORMS: TransformSpec[] = [{ type: 'horizontalFlip', p: 0.5 }, { type: 'normalize' }];
export const EVAL_TRANSFORMS: TransformSpec[] = [{ type: 'normalize' }];

export async function loadVideoData(o: DataOptions): Promise<VideoData> {
  const root =
    o.vid ??
    (await ensureShapesDataset('video', o.cache, {
      seed: o.dataSeed,
      count: o.trainCount,
      valCount: o.valCount,
      size: o.size,
      frames: o.frames,
      motionBlur: o.motionBlur,
      // Named only when used, so the data and runs made before the option keep their cache folder and fingerprint.
      ...(o.defocus > 0 ? { defocus: o.defocus } : {}),
    }));
  const classes = [...SHAPE_CLASSES];
  const train = loadImagenetVid({ root, split: 'train', classes });
  const val = loadImagenetVid({ root, split: 'val', classes });
  const source = o.vid
    ? { vid: o.vid }
    : {
        shapes: {
          size: o.size,
          trainCount: o.trainCount,
          frames: o.frames,
          dataSeed: o.dataSeed,
          motionBlur: o.motionBlur,
          ...(o.defocus > 0 ? { defocus: o.defocus } : {}),
        },
      };
  const valSpeeds = o.vid ? undefined : trackSpeeds(root, 'val', val, o.size);
  return { train, val, classes, valSpeeds, fingerprint: { ...source, trainFrames: train.records.length, classes } };
}

/**
 * Every track's speed bin from the poses the generator recorded: its centre's speed is the longest step between
 * frames (bounces off the borders only shorten a step), binned as the generator drew it (`speedBin`).
 */
function trackSpeeds(root: string, split: string, dataset: VidDataset, size: number): SpeedBins {
  return new Map(
    dataset.videos.map((video) => {
      const { poses } = loadVideoMotion(root, split, video.name);
      const bins = poses[0].map((_, track) => {
        const steps = poses
          .slice(1)
          .map((frame, f) => Math.hypot(frame[track].cx - poses[f][track].cx, frame[track].cy - poses[f][track].cy));
        return [track, speedBin(Math.max(0, ...steps), size)] as const;
      });
      return [video.name, new Map(bins)];
    }),
  );
}

/** Height and width rounded up to FlowNet's stride: every frame of a video is zero-padded to it. */
export function paddedSizeOf(height: number, width: number): [number, number] {
  return [Math.ceil(height / FLOWNET_STRIDE) * FLOWNET_STRIDE, Math.ceil(width / FLOWNET_STRIDE) * FLOWNET_STRIDE];
}

/** A normalised sample as a [1, H, W, 3] tensor zero-padded at the bottom and right to `padded`. */
export function frameTensor(sample: Sample, padded: [number, number]): tf.Tensor4D {
  const [H, W] = padded;
  const data = new Float32Array(H * W * 3);
  for (let y = 0; y < sample.height; y++)
    data.set(sample.image.subarray(y * sample.width * 3, (y + 1) * sample.width * 3), y * W * 3);
  return tf.tensor4d(data, [1, H, W, 3]);
}

/** Every frame of video `v` of `dataset`, normalised as for evaluation, with its size before padding. */
export async function loadVideoFrames(
  dataset: VidDataset,
  v: number,
): Promise<{ samples: Sample[]; frames: tf.Tensor4D[]; imageSize: [number, number] }> {
  const rng = new Rng(0);
  const samples = await Promise.all(
    dataset.videos[v].frames.map(async (i) => applyTransforms(await dataset.get(i), EVAL_TRANSFORMS, rng)),
  );
  const { height, width } = samples[0];
  const padded = paddedSizeOf(height, width);
  return { samples, frames: samples.map((s) => frameTensor(s, padded)), imageSize: [height, width] };
}
