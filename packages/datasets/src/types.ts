import type { CocoSegmentation } from './formats/mask';

/** A decoded image: `data` is H x W x 3 RGB, row-major (HWC). */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** How a label-map PNG stores its labels. */
export type LabelMapEncoding = 'indexed' | 'cityscapes-labelids';

/**
 * One image and its annotations, without pixels: what every image loader returns. Plain data (typed arrays,
 * strings, numbers), so it can be posted to a worker. Boxes are xyxy in continuous pixel coordinates
 * (a box covering pixel columns 3..5 is x0 = 3, x1 = 6); labels index the dataset's `classes`.
 */
export interface ImageRecord {
  id: number | string;
  imagePath: string;
  width: number;
  height: number;
  /** N x 4, xyxy pixels. */
  boxes: Float32Array;
  labels: Int32Array;
  iscrowd: Uint8Array;
  area: Float32Array;
  /** COCO segmentations, one per box, decoded to masks when a sample asks for them. */
  segmentations?: CocoSegmentation[];
  /** A label map (segmentation) beside the image. */
  labelMap?: { path: string; encoding: LabelMapEncoding; numClasses: number };
  /** Per-box track ids (video). */
  trackIds?: Int32Array;
  /** Per-box VOC `difficult` flags. */
  difficult?: Uint8Array;
  /** The annotation file the record came from, for error messages. */
  source: string;
}

/**
 * A decoded image with its annotations, as loaders and transforms pass it on. `image` is HWC RGB, uint8 until
 * `normalize` turns it into float32. Per-box arrays (`labels`, `iscrowd`, `area`, `trackIds`, `masks`) stay
 * aligned with `boxes` through every transform.
 */
export interface Sample {
  id: number | string;
  image: Uint8Array | Float32Array;
  width: number;
  height: number;
  /** Size of the image as stored, before transforms. */
  origWidth: number;
  origHeight: number;
  boxes: Float32Array;
  labels: Int32Array;
  iscrowd: Uint8Array;
  area: Float32Array;
  trackIds?: Int32Array;
  /** VOC `difficult` flags, when the dataset has them. */
  difficult?: Uint8Array;
  /** N x H x W binary instance masks (when asked for; in a batch, of the unpadded image). */
  masks?: Uint8Array;
  /** H x W class map, 255 = void (segmentation datasets). */
  segmentation?: Uint8Array;
}
