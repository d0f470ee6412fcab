import { argumentError, assertInteger, type Rng } from '@deformjs/core';
import { isFiniteNumbers } from '@deformjs/validate';
import type { Sample } from './types';
import { xyxyAreas } from './boxes';

/** ImageNet statistics, as torchvision's Normalize in DETR. */
export const IMAGENET_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];

/**
 * DETR's get_size_with_aspect_ratio: the output (height, width) whose shorter side is `size`, unless the
 * longer side would then exceed `maxSize`, in which case the shorter side shrinks so it does not.
 */
export function sizeWithAspectRatio(width: number, height: number, size: number, maxSize?: number): [number, number] {
  if (maxSize !== undefined) {
    const minOriginal = Math.min(width, height);
    const maxOriginal = Math.max(width, height);
    if ((maxOriginal / minOriginal) * size > maxSize) size = Math.round((maxSize * minOriginal) / maxOriginal);
  }
  if ((width <= height && width === size) || (height <= width && height === size)) return [height, width];
  if (width < height) return [Math.trunc((size * height) / width), size];
  return [size, Math.trunc((size * width) / height)];
}

/** Keeps the boxes at `keep` (and every per-box array with them). */
function selectBoxes(sample: Sample, keep: number[]): Sample {
  const pick4 = (a: Float32Array) =>
    Float32Array.from(keep.flatMap((i) => [a[4 * i], a[4 * i + 1], a[4 * i + 2], a[4 * i + 3]]));
  const out: Sample = {
    ...sample,
    boxes: pick4(sample.boxes),
    labels: Int32Array.from(keep, (i) => sample.labels[i]),
    iscrowd: Uint8Array.from(keep, (i) => sample.iscrowd[i]),
    area: Float32Array.from(keep, (i) => sample.area[i]),
  };
  if (sample.trackIds) out.trackIds = Int32Array.from(keep, (i) => sample.trackIds![i]);
  if (sample.difficult) out.difficult = Uint8Array.from(keep, (i) => sample.difficult![i]);
  if (sample.masks) {
    const plane = sample.width * sample.height;
    const masks = new Uint8Array(keep.length * plane);
    keep.forEach((i, k) => masks.set(sample.masks!.subarray(i * plane, (i + 1) * plane), k * plane));
    out.masks = masks;
  }
  return out;
}

/** PIL's fixed-point precision for 8-bit resampling (Resample.c: 32 - 8 - 2 bits). */
const PRECISION_BITS = 22;
const ONE = 2 ** PRECISION_BITS;

interface Taps {
  start: Int32Array;
  count: Int32Array;
  /** Normalised weights, `stride` per output index. */
  weights: Float64Array;
  /** The same in PIL's fixed point, for 8-bit images. */
  fixed: Float64Array;
  stride: number;
}

/** Per output index, the input taps and weights of PIL's bilinear filter, widened when shrinking (antialias). */
function triangleTaps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale;
  const stride = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float64Array(outSize * stride);
  const fixed = new Float64Array(outSize * stride);
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    let lo = Math.max(Math.trunc(center - support + 0.5), 0);
    let hi = Math.min(Math.trunc(center + support + 0.5), inSize);
    const tent = (i: number) => Math.max(0, 1 - Math.abs((i - center + 0.5) / filterScale));
    // Taps of weight zero add nothing (PIL computes them anyway); dropping them saves a third when enlarging.
    while (hi - lo > 1 && tent(lo) === 0) lo++;
    while (hi - lo > 1 && tent(hi - 1) === 0) hi--;
    const n = hi - lo;
    let total = 0;
    for (let k = 0; k < n; k++) {
      const w = tent(k + lo);
      weights[o * stride + k] = w;
      total += w;
    }
    for (let k = 0; k < n; k++) {
      const w = total === 0 ? 0 : weights[o * stride + k] / total;
      weights[o * stride + k] = w;
      fixed[o * stride + k] = Math.trunc(w < 0 ? w * ONE - 0.5 : w * ONE + 0.5);
    }
    start[o] = lo;
    count[o] = n;
  }
  return { start, count, weights, fixed, stride };
}

const INV_ONE = 1 / ONE;

/** PIL's clip8: a fixed-point sum (with its rounding half already added) to a byte. */
function clip8(sum: number): number {
  return sum >= 256 * ONE ? 255 : sum <= 0 ? 0 : (sum * INV_ONE) | 0;
}

/**
 * Bilinear resize of an HWC image as PIL does it (what torchvision's Resize does to PIL images): antialiased
 * when shrinking, a horizontal then a vertical pass, and for uint8 images PIL's fixed-point arithmetic with
 * rounding to bytes between the passes, so results match PIL exactly.
 */
export function resizeImage<T extends Uint8Array | Float32Array>(
  image: T,
  width: number,
  height: number,
  channels: number,
  outWidth: number,
  outHeight: number,
): T {
  const bytes = image instanceof Uint8Array;
  // As PIL, a pass whose size does not change is skipped (it would be the identity).
  let rows: Uint8Array | Float32Array = image;
  if (outWidth !== width) {
    rows = bytes ? new Uint8Array(height * outWidth * channels) : new Float32Array(height * outWidth * channels);
    horizontalPass(image, rows, width, height, channels, triangleTaps(width, outWidth), outWidth);
  }
  if (outHeight === height) return (rows === image ? image.slice() : rows) as T;
  const out = (
    bytes ? new Uint8Array(outWidth * outHeight * channels) : new Float32Array(outWidth * outHeight * channels)
  ) as T;
  verticalPass(rows, out, outWidth * channels, outHeight, triangleTaps(height, outHeight));
  return out;
}

function horizontalPass(
  image: Uint8Array | Float32Array,
  rows: Uint8Array | Float32Array,
  width: number,
  height: number,
  channels: number,
  taps: Taps,
  outWidth: number,
): void {
  const bytes = rows instanceof Uint8Array;
  const { start, count, stride } = taps;
  const weights = bytes ? taps.fixed : taps.weights;
  const bias = bytes ? ONE / 2 : 0;
  for (let y = 0; y < height; y++) {
    const inRow = y * width * channels;
    const outRow = y * outWidth * channels;
    for (let x = 0; x < outWidth; x++) {
      const n = count[x];
      const w0 = x * stride;
      const src = inRow + start[x] * channels;
      const dst = outRow + x * channels;
      if (channels === 3) {
        let r = bias;
        let g = bias;
        let b = bias;
        for (let k = 0, i = src; k < n; k++, i += 3) {
          const w = weights[w0 + k];
          r += w * image[i];
          g += w * image[i + 1];
          b += w * image[i + 2];
        }
        rows[dst] = bytes ? clip8(r) : r;
        rows[dst + 1] = bytes ? clip8(g) : g;
        rows[dst + 2] = bytes ? clip8(b) : b;
        continue;
      }
      for (let c = 0; c < channels; c++) {
        let sum = bias;
        for (let k = 0, i = src + c; k < n; k++, i += channels) sum += weights[w0 + k] * image[i];
        rows[dst + c] = bytes ? clip8(sum) : sum;
      }
    }
  }
}

function verticalPass(
  rows: Uint8Array | Float32Array,
  out: Uint8Array | Float32Array,
  rowLength: number,
  outHeight: number,
  taps: Taps,
): void {
  const bytes = out instanceof Uint8Array;
  const { start, count, stride } = taps;
  const weights = bytes ? taps.fixed : taps.weights;
  const sum = new Float64Array(rowLength);
  const bias = bytes ? ONE / 2 : 0;
  for (let y = 0; y < outHeight; y++) {
    const w0 = weights[y * stride];
    const first = start[y] * rowLength;
    for (let i = 0; i < rowLength; i++) sum[i] = bias + w0 * rows[first + i];
    for (let k = 1; k < count[y]; k++) {
      const w = weights[y * stride + k];
      const src = (start[y] + k) * rowLength;
      for (let i = 0; i < rowLength; i++) sum[i] += w * rows[src + i];
    }
    const dst = y * rowLength;
    if (bytes) for (let i = 0; i < rowLength; i++) out[dst + i] = clip8(sum[i]);
    else out.set(sum, dst);
  }
}

/** Nearest-neighbour resize of stacked planes (masks, label maps), as torch's interpolate(mode='nearest'). */
export function resizeNearest(
  planes: Uint8Array,
  width: number,
  height: number,
  outWidth: number,
  outHeight: number,
): Uint8Array {
  const n = planes.length / (width * height);
  const out = new Uint8Array(n * outWidth * outHeight);
  const xs = Int32Array.from({ length: outWidth }, (_, x) => Math.min(Math.floor(x * (width / outWidth)), width - 1));
  for (let p = 0; p < n; p++) {
    for (let y = 0; y < outHeight; y++) {
      const sy = Math.min(Math.floor(y * (height / outHeight)), height - 1);
      const src = p * width * height + sy * width;
      const dst = p * outWidth * outHeight + y * outWidth;
      for (let x = 0; x < outWidth; x++) out[dst + x] = planes[src + xs[x]];
    }
  }
  return out;
}

/** Resizes to exactly `outHeight` x `outWidth`, scaling boxes and areas with the image (as DETR's resize). */
export function resize(sample: Sample, outHeight: number, outWidth: number): Sample {
  const { width, height } = sample;
  if (outWidth === width && outHeight === height) return sample;
  const rx = outWidth / width;
  const ry = outHeight / height;
  const boxes = sample.boxes.map((v, i) => v * (i % 2 === 0 ? rx : ry));
  const out: Sample = {
    ...sample,
    image: resizeImage(sample.image, width, height, 3, outWidth, outHeight),
    width: outWidth,
    height: outHeight,
    boxes,
    area: sample.area.map((a) => a * rx * ry),
  };
  if (sample.masks) out.masks = resizeNearest(sample.masks, width, height, outWidth, outHeight);
  if (sample.segmentation) out.segmentation = resizeNearest(sample.segmentation, width, height, outWidth, outHeight);
  return out;
}

/** Resizes so the shorter side is `size` (the longer at most `maxSize`), keeping the aspect ratio. */
export function resizeShorterSide(sample: Sample, size: number, maxSize?: number): Sample {
  const [h, w] = sizeWithAspectRatio(sample.width, sample.height, size, maxSize);
  return resize(sample, h, w);
}

/** Reverses each row of `rows` rows of `width` pixels with `channels` values each. */
function flipRows<T extends Uint8Array | Float32Array>(data: T, width: number, channels: number): T {
  const out = (data instanceof Uint8Array ? new Uint8Array(data.length) : new Float32Array(data.length)) as T;
  const rowLength = width * channels;
  for (let row = 0; row < data.length; row += rowLength) {
    if (channels === 3) {
      for (let x = 0, dst = row + rowLength - 3; x < rowLength; x += 3, dst -= 3) {
        out[dst] = data[row + x];
        out[dst + 1] = data[row + x + 1];
        out[dst + 2] = data[row + x + 2];
      }
    } else {
      for (let x = 0; x < width; x++) out[row + width - 1 - x] = data[row + x];
    }
  }
  return out;
}

/** Mirrors left-right: image, masks, label map and boxes ([W - x1, y0, W - x0, y1]). */
export function horizontalFlip(sample: Sample): Sample {
  const { width } = sample;
  const boxes = new Float32Array(sample.boxes.length);
  for (let i = 0; i < boxes.length; i += 4) {
    boxes[i] = width - sample.boxes[i + 2];
    boxes[i + 1] = sample.boxes[i + 1];
    boxes[i + 2] = width - sample.boxes[i];
    boxes[i + 3] = sample.boxes[i + 3];
  }
  const out: Sample = { ...sample, image: flipRows(sample.image, width, 3), boxes };
  if (sample.masks) out.masks = flipRows(sample.masks, width, 1);
  if (sample.segmentation) out.segmentation = flipRows(sample.segmentation, width, 1);
  return out;
}

/**
 * Crops the region at (top, left) of size height x width, which may reach past the image: outside pixels are
 * 0 in the image and 255 (void) in a label map. Boxes are shifted and clipped to the region, areas become the
 * clipped box areas, and boxes left empty are dropped (with masks: those whose mask is empty), as DETR's crop.
 */
export function crop(sample: Sample, top: number, left: number, height: number, width: number): Sample {
  const copyRegion = <T extends Uint8Array | Float32Array>(
    data: T,
    channels: number,
    planes: number,
    fill: number,
  ): T => {
    const out = (
      data instanceof Uint8Array
        ? new Uint8Array(planes * height * width * channels)
        : new Float32Array(planes * height * width * channels)
    ) as T;
    if (fill !== 0) out.fill(fill);
    const x0 = Math.max(0, left);
    const x1 = Math.min(sample.width, left + width);
    if (x1 <= x0) return out;
    for (let p = 0; p < planes; p++) {
      for (let y = Math.max(0, top); y < Math.min(sample.height, top + height); y++) {
        const src = ((p * sample.height + y) * sample.width + x0) * channels;
        const dst = ((p * height + y - top) * width + x0 - left) * channels;
        out.set(data.subarray(src, src + (x1 - x0) * channels), dst);
      }
    }
    return out;
  };
  const n = sample.labels.length;
  const boxes = new Float32Array(4 * n);
  for (let i = 0; i < n; i++) {
    const b = sample.boxes.subarray(4 * i, 4 * i + 4);
    boxes[4 * i] = Math.min(Math.max(b[0] - left, 0), width);
    boxes[4 * i + 1] = Math.min(Math.max(b[1] - top, 0), height);
    boxes[4 * i + 2] = Math.min(Math.max(b[2] - left, 0), width);
    boxes[4 * i + 3] = Math.min(Math.max(b[3] - top, 0), height);
  }
  const area = xyxyAreas(boxes);
  const out: Sample = { ...sample, image: copyRegion(sample.image, 3, 1, 0), width, height, boxes, area };
  if (sample.segmentation) out.segmentation = copyRegion(sample.segmentation, 1, 1, 255);
  const keep: number[] = [];
  if (sample.masks) {
    out.masks = copyRegion(sample.masks, 1, n, 0);
    const plane = width * height;
    for (let i = 0; i < n; i++) if (out.masks.subarray(i * plane, (i + 1) * plane).some((v) => v !== 0)) keep.push(i);
  } else {
    for (let i = 0; i < n; i++)
      if (boxes[4 * i + 2] > boxes[4 * i] && boxes[4 * i + 3] > boxes[4 * i + 1]) keep.push(i);
  }
  return keep.length === n ? out : selectBoxes(out, keep);
}

/** (pixel / 255 - mean) / std per channel, to float32; the last step before batching. */
export function normalize(
  sample: Sample,
  mean: readonly number[] = IMAGENET_MEAN,
  std: readonly number[] = IMAGENET_STD,
): Sample {
  if (sample.image instanceof Float32Array)
    throw argumentError('normalize', 'sample.image', 'uint8 pixels (normalise once)', 'a Float32Array');
  const pixels = sample.image;
  const image = new Float32Array(pixels.length);
  const [s0, s1, s2] = [0, 1, 2].map((c) => 1 / (255 * std[c]));
  const [b0, b1, b2] = [0, 1, 2].map((c) => mean[c] / std[c]);
  for (let i = 0; i < image.length; i += 3) {
    image[i] = pixels[i] * s0 - b0;
    image[i + 1] = pixels[i + 1] * s1 - b1;
    image[i + 2] = pixels[i + 2] * s2 - b2;
  }
  return { ...sample, image };
}

/** A transform as plain data, so a pipeline can be sent to decode workers and saved with a run's config. */
export type TransformSpec =
  | { type: 'resize'; size: number; maxSize?: number }
  | { type: 'randomResize'; sizes: readonly number[]; maxSize?: number }
  | { type: 'horizontalFlip'; p?: number }
  | { type: 'randomSizeCrop'; minSize: number; maxSize: number }
  | { type: 'randomCrop'; height: number; width: number }
  | { type: 'randomSelect'; p?: number; first: readonly TransformSpec[]; second: readonly TransformSpec[] }
  | { type: 'normalize'; mean?: readonly number[]; std?: readonly number[] };

/** Inclusive integer in [low, high], as Python's random.randint. */
function randint(rng: Rng, low: number, high: number): number {
  return low + rng.int(high - low + 1);
}

/** Runs a pipeline, drawing every random choice from `rng` in order (so a sample's seed fixes its augmentation). */
export function applyTransforms(sample: Sample, specs: readonly TransformSpec[], rng: Rng): Sample {
  let s = sample;
  for (const spec of specs) {
    switch (spec.type) {
      case 'resize':
        s = resizeShorterSide(s, spec.size, spec.maxSize);
        break;
      case 'randomResize':
        s = resizeShorterSide(s, spec.sizes[rng.int(spec.sizes.length)], spec.maxSize);
        break;
      case 'horizontalFlip':
        if (rng.next() < (spec.p ?? 0.5)) s = horizontalFlip(s);
        break;
      case 'randomSizeCrop': {
        const w = randint(rng, Math.min(spec.minSize, s.width), Math.min(s.width, spec.maxSize));
        const h = randint(rng, Math.min(spec.minSize, s.height), Math.min(s.height, spec.maxSize));
        const top = randint(rng, 0, s.height - h);
        const left = randint(rng, 0, s.width - w);
        s = crop(s, top, left, h, w);
        break;
      }
      case 'randomCrop': {
        // Larger than the image: the image sits at a random offset inside the padded crop.
        const top =
          s.height >= spec.height ? randint(rng, 0, s.height - spec.height) : -randint(rng, 0, spec.height - s.height);
        const left =
          s.width >= spec.width ? randint(rng, 0, s.width - spec.width) : -randint(rng, 0, spec.width - s.width);
        s = crop(s, top, left, spec.height, spec.width);
        break;
      }
      case 'randomSelect':
        s = applyTransforms(s, rng.next() < (spec.p ?? 0.5) ? spec.first : spec.second, rng);
        break;
      case 'normalize':
        s = normalize(s, spec.mean, spec.std);
        break;
    }
  }
  return s;
}

/** Checks a pipeline up front, so a typo fails at construction with the step and field named. */
export function validateTransforms(specs: readonly TransformSpec[], op = 'transforms'): void {
  if (!Array.isArray(specs)) throw argumentError(op, 'transforms', 'an array of transform specs', specs);
  specs.forEach((spec, i) => {
    const name = `transforms[${i}]`;
    const size = (key: string, value: unknown) => assertInteger(op, `${name}.${key}`, value, 1);
    switch (spec?.type) {
      case 'resize':
        size('size', spec.size);
        if (spec.maxSize !== undefined) size('maxSize', spec.maxSize);
        break;
      case 'randomResize':
        if (!Array.isArray(spec.sizes) || spec.sizes.length === 0)
          throw argumentError(op, `${name}.sizes`, 'a non-empty list of sizes', spec.sizes);
        spec.sizes.forEach((s: number, k: number) => size(`sizes[${k}]`, s));
        if (spec.maxSize !== undefined) size('maxSize', spec.maxSize);
        break;
      case 'horizontalFlip':
        if (spec.p !== undefined && !(spec.p >= 0 && spec.p <= 1))
          throw argumentError(op, `${name}.p`, 'a probability in [0, 1]', spec.p);
        break;
      case 'randomSizeCrop':
        size('minSize', spec.minSize);
        size('maxSize', spec.maxSize);
        if (spec.maxSize < spec.minSize)
          throw argumentError(op, `${name}.maxSize`, `>= minSize = ${spec.minSize}`, spec.maxSize);
        break;
      case 'randomCrop':
        size('height', spec.height);
        size('width', spec.width);
        break;
      case 'randomSelect':
        if (spec.p !== undefined && !(spec.p >= 0 && spec.p <= 1))
          throw argumentError(op, `${name}.p`, 'a probability in [0, 1]', spec.p);
        validateTransforms(spec.first, op);
        validateTransforms(spec.second, op);
        break;
      case 'normalize':
        for (const key of ['mean', 'std'] as const) {
          const v = spec[key];
          if (v !== undefined && (!isFiniteNumbers(v, 3) || (key === 'std' && v.some((x) => x <= 0)))) {
            throw argumentError(op, `${name}.${key}`, `3 finite numbers${key === 'std' ? ' > 0' : ''}`, v);
          }
        }
        break;
      default:
        throw argumentError(
          op,
          `${name}.type`,
          "one of 'resize', 'randomResize', 'horizontalFlip', 'randomSizeCrop', 'randomCrop', 'randomSelect', 'normalize'",
          (spec as { type?: unknown })?.type,
        );
    }
  });
}

export interface DetrTransformOptions {
  /** Shorter-side sizes to choose from; DETR: 480..800 in steps of 32. */
  scales?: readonly number[];
  maxSize?: number;
  /** Sizes of the intermediate resize before the crop; DETR: 400, 500, 600. */
  cropResizes?: readonly number[];
  /** RandomSizeCrop bounds; DETR: 384..600. */
  cropSize?: readonly [number, number];
}

/** DETR's training pipeline: flip, then either a multi-scale resize or resize-crop-resize, then normalise. */
export function detrTrainTransforms(options: DetrTransformOptions = {}): TransformSpec[] {
  const {
    scales = [480, 512, 544, 576, 608, 640, 672, 704, 736, 768, 800],
    maxSize = 1333,
    cropResizes = [400, 500, 600],
    cropSize = [384, 600],
  } = options;
  return [
    { type: 'horizontalFlip', p: 0.5 },
    {
      type: 'randomSelect',
      p: 0.5,
      first: [{ type: 'randomResize', sizes: scales, maxSize }],
      second: [
        { type: 'randomResize', sizes: cropResizes },
        { type: 'randomSizeCrop', minSize: cropSize[0], maxSize: cropSize[1] },
        { type: 'randomResize', sizes: scales, maxSize },
      ],
    },
    { type: 'normalize' },
  ];
}

/** DETR's evaluation pipeline: resize the shorter side to `size` (longer at most `maxSize`), normalise. */
export function detrEvalTransforms(size = 800, maxSize = 1333): TransformSpec[] {
  return [{ type: 'resize', size, maxSize }, { type: 'normalize' }];
}
