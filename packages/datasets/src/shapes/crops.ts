/**
 * A classification task cut from the shapes world's detection set: one square crop around every non-crowd object
 * (its box's longer side times 1.25, centred on the box, black outside the image), resized bilinearly to
 * size x size, labelled with the object's shape (5 classes). Crops of overlapping objects also show parts of
 * their neighbours, which the classifier has to look past.
 */
import * as tf from '@tensorflow/tfjs-core';
import { cocoPaths, loadCoco } from '../coco';
import { ensureShapesDataset } from './generate';

export interface CropSet {
  /** [N, size, size, 3], pixel values / 255 - 0.5. */
  images: tf.Tensor4D;
  labels: Int32Array;
}

/** Objects whose box is smaller than this (longer side, pixels) are left out: a few pixels show no shape. */
const MIN_SIDE = 8;

export interface CropDataOptions {
  cacheDir: string;
  /** Detection images generated for training (validation: a fifth as many, at least 2). */
  count: number;
  /** Longest side of the generated images. */
  imageSize: number;
  /** Side of the crops. */
  size: number;
}

/** The crops of one split of the shapes detection set (generated once into `cacheDir`, seed 0). */
export async function shapeCrops(options: CropDataOptions, split: 'train' | 'val'): Promise<CropSet> {
  const root = await ensureShapesDataset('detection', options.cacheDir, {
    count: options.count,
    size: options.imageSize,
    seed: 0,
  });
  const dataset = loadCoco({ ...cocoPaths(root, split), crowd: 'drop' });
  const crops: tf.Tensor4D[] = [];
  const labels: number[] = [];
  for (let i = 0; i < dataset.records.length; i++) {
    const sample = await dataset.get(i);
    const { width: W, height: H } = sample;
    const boxes: number[][] = [];
    for (let b = 0; b < sample.labels.length; b++) {
      const [x0, y0, x1, y1] = sample.boxes.subarray(4 * b, 4 * b + 4);
      const side = Math.max(x1 - x0, y1 - y0);
      if (side < MIN_SIDE) continue;
      const half = (1.25 * side) / 2;
      const [cx, cy] = [(x0 + x1) / 2, (y0 + y1) / 2];
      // cropAndResize's normalised corners: pixel centre p sits at p / (size - 1); box edges are at p - 0.5.
      boxes.push([
        (cy - half - 0.5) / (H - 1),
        (cx - half - 0.5) / (W - 1),
        (cy + half - 0.5) / (H - 1),
        (cx + half - 0.5) / (W - 1),
      ]);
      labels.push(sample.labels[b]);
    }
    if (boxes.length === 0) continue;
    crops.push(
      tf.tidy(() => {
        const image = tf.tensor4d(sample.image, [1, H, W, 3], 'float32');
        const cut = tf.image.cropAndResize(image, boxes, new Array(boxes.length).fill(0), [options.size, options.size]);
        return tf.sub(tf.div(cut, 255), 0.5) as tf.Tensor4D;
      }),
    );
  }
  const images = tf.concat(crops, 0);
  tf.dispose(crops);
  return { images, labels: Int32Array.from(labels) };
}
