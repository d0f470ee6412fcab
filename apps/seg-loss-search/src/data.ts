import * as tf from '@tensorflow/tfjs-core';
import { type Rng } from '@deformjs/core';
import { ensureShapesDataset, loadVoc, SHAPE_SEGMENTATION_CLASSES } from '@deformjs/datasets';

/** ImageNet statistics, as mmseg normalises VOC. */
const MEAN = [123.675, 116.28, 103.53];
const STD = [58.395, 57.12, 57.375];
export const IGNORE_INDEX = 255;

/** One image of a split in memory: normalised HWC RGB and its class map (255 void). */
export interface SegmentationImage {
  image: Float32Array;
  labels: Int32Array;
  width: number;
  height: number;
}

export interface ShapesData {
  train: SegmentationImage[];
  val: SegmentationImage[];
  classes: readonly string[];
}

export interface ShapesDataOptions {
  /** Where generated datasets are cached. */
  cacheDir: string;
  /** Longest image side (the set's images are size x 75-100% of size). */
  size: number;
  trainCount: number;
  valCount: number;
  seed: number;
}

/**
 * The synthetic shapes segmentation set (@deformjs/datasets, PASCAL VOC layout with a void band on every
 * class boundary), generated once into the cache and loaded whole.
 */
export async function loadShapesData(options: ShapesDataOptions): Promise<ShapesData> {
  const root = await ensureShapesDataset('segmentation', options.cacheDir, {
    seed: options.seed,
    count: options.trainCount,
    valCount: options.valCount,
    size: options.size,
  });
  const classes = SHAPE_SEGMENTATION_CLASSES;
  const load = async (split: 'train' | 'val'): Promise<SegmentationImage[]> => {
    const dataset = loadVoc({ root, split, task: 'segmentation', classes });
    const out: SegmentationImage[] = [];
    for (let n = 0; n < dataset.records.length; n++) {
      const sample = await dataset.get(n);
      const image = new Float32Array(sample.width * sample.height * 3);
      for (let i = 0; i < image.length; i++) image[i] = (sample.image[i] - MEAN[i % 3]) / STD[i % 3];
      out.push({ image, labels: Int32Array.from(sample.segmentation!), width: sample.width, height: sample.height });
    }
    return out;
  };
  return { train: await load('train'), val: await load('val'), classes };
}

/**
 * A random training batch of crop x crop windows (random position, random horizontal flip) as tensors:
 * images [B, crop, crop, 3], labels [B, crop, crop] int32. Every image is at least `crop` on both sides.
 */
export function trainBatch(
  split: readonly SegmentationImage[],
  batchSize: number,
  crop: number,
  rng: Rng,
): { images: tf.Tensor4D; labels: tf.Tensor3D } {
  const plane = crop * crop;
  const images = new Float32Array(batchSize * plane * 3);
  const labels = new Int32Array(batchSize * plane);
  for (let b = 0; b < batchSize; b++) {
    const item = split[rng.int(split.length)];
    if (item.width < crop || item.height < crop)
      throw new Error(`trainBatch: an image of ${item.width}x${item.height} is smaller than the crop ${crop}`);
    const x0 = rng.int(item.width - crop + 1);
    const y0 = rng.int(item.height - crop + 1);
    const flip = rng.next() < 0.5;
    for (let y = 0; y < crop; y++) {
      for (let x = 0; x < crop; x++) {
        const src = (y0 + y) * item.width + x0 + (flip ? crop - 1 - x : x);
        const dst = b * plane + y * crop + x;
        labels[dst] = item.labels[src];
        for (let c = 0; c < 3; c++) images[dst * 3 + c] = item.image[src * 3 + c];
      }
    }
  }
  return {
    images: tf.tensor4d(images, [batchSize, crop, crop, 3]),
    labels: tf.tensor3d(labels, [batchSize, crop, crop], 'int32'),
  };
}
