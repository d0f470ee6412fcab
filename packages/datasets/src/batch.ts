import * as tf from '@tensorflow/tfjs-core';
import { argumentError } from '@deformjs/core';
import { xyxyToNormalizedCxcywh } from './boxes';
import type { Sample } from './types';

/** One image's targets in a batch, in DETR's conventions plus pixel boxes. */
export interface BatchTarget extends Pick<
  Sample,
  'id' | 'labels' | 'iscrowd' | 'area' | 'trackIds' | 'difficult' | 'masks'
> {
  /** N x 4 normalised (cx, cy, w, h) relative to this image's unpadded size, as DETR's criterion takes them. */
  boxes: Float32Array;
  /** N x 4 xyxy pixels in the (unpadded) transformed image. */
  boxesXyxy: Float32Array;
  /** [height, width] after transforms (the valid region of the padded image). */
  size: [number, number];
  /** [height, width] as stored, for mapping predictions back. */
  origSize: [number, number];
}

/** Images padded to the largest height and width in the batch, as DETR's NestedTensor. */
export interface Batch {
  batchSize: number;
  height: number;
  width: number;
  /** B x H x W x 3 float32, padding is 0 (bottom and right). */
  images: Float32Array;
  /** B x H x W, 1 on real pixels, 0 on padding (DETR's `mask` is the complement). */
  pixelMask: Uint8Array;
  /** B x H x W class maps padded with 255 (void), when the samples carry them. */
  segmentation?: Uint8Array;
  targets: BatchTarget[];
}

/**
 * Pads normalised samples into one batch. Every sample must have been normalised (float32 pixels); label maps
 * must be on all samples or none.
 */
export function collate(samples: readonly Sample[]): Batch {
  if (samples.length === 0) throw argumentError('collate', 'samples', 'at least one sample', 'an empty list');
  samples.forEach((s, i) => {
    if (!(s.image instanceof Float32Array))
      throw argumentError(
        'collate',
        `samples[${i}].image`,
        "float32 pixels (end the transforms with { type: 'normalize' })",
        'uint8 pixels',
      );
  });
  const withMaps = samples.filter((s) => s.segmentation).length;
  if (withMaps !== 0 && withMaps !== samples.length)
    throw argumentError('collate', 'samples', 'label maps on all samples or none', `${withMaps} of ${samples.length}`);
  const height = Math.max(...samples.map((s) => s.height));
  const width = Math.max(...samples.map((s) => s.width));
  const b = samples.length;
  const images = new Float32Array(b * height * width * 3);
  const pixelMask = new Uint8Array(b * height * width);
  const segmentation = withMaps ? new Uint8Array(b * height * width).fill(255) : undefined;
  samples.forEach((s, i) => {
    for (let y = 0; y < s.height; y++) {
      const row = (i * height + y) * width;
      images.set(s.image.subarray(y * s.width * 3, (y + 1) * s.width * 3), row * 3);
      pixelMask.fill(1, row, row + s.width);
      if (segmentation) segmentation.set(s.segmentation!.subarray(y * s.width, (y + 1) * s.width), row);
    }
  });
  const targets = samples.map((s): BatchTarget => {
    const target: BatchTarget = {
      id: s.id,
      boxes: xyxyToNormalizedCxcywh(s.boxes, s.width, s.height),
      boxesXyxy: s.boxes,
      labels: s.labels,
      iscrowd: s.iscrowd,
      area: s.area,
      size: [s.height, s.width],
      origSize: [s.origHeight, s.origWidth],
    };
    if (s.trackIds) target.trackIds = s.trackIds;
    if (s.difficult) target.difficult = s.difficult;
    if (s.masks) target.masks = s.masks;
    return target;
  });
  return segmentation
    ? { batchSize: b, height, width, images, pixelMask, segmentation, targets }
    : { batchSize: b, height, width, images, pixelMask, targets };
}

export interface BatchTensors {
  /** [B, H, W, 3] float32. */
  images: tf.Tensor4D;
  /** [B, H, W] float32, 1 on real pixels. */
  pixelMask: tf.Tensor3D;
  /** [B, H, W] int32 with 255 void, when the batch has label maps. */
  segmentation?: tf.Tensor3D;
}

/** The batch's dense parts as tensors (the caller disposes them). */
export function batchToTensors(batch: Batch): BatchTensors {
  const { batchSize: b, height: h, width: w } = batch;
  const images = tf.tensor4d(batch.images, [b, h, w, 3], 'float32');
  const pixelMask = tf.tensor3d(Float32Array.from(batch.pixelMask), [b, h, w], 'float32');
  if (!batch.segmentation) return { images, pixelMask };
  return { images, pixelMask, segmentation: tf.tensor3d(Int32Array.from(batch.segmentation), [b, h, w], 'int32') };
}
