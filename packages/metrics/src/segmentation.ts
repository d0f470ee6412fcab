import { argumentError, assertInteger } from '@deformjs/validate';

/**
 * Semantic segmentation metrics over a stream of label maps: a confusion matrix (rows ground truth, columns
 * prediction) for mIoU / FWIoU / mAcc / gAcc, a second one restricted to a trimap band around ground-truth
 * boundaries for boundary IoU, and per-class boundary-pixel counts for boundary F1. The boundary metrics are
 * those of Auto Seg-Loss's evaluator (fundamentalvision/Auto-Seg-Loss mmseg/core/evaluation/utils.py), the
 * same counts without its one-hot tensors:
 * - the boundary of class c is the pixels labelled c with a pixel of another value (void included) in their
 *   3x3 neighbourhood inside the image: its `seg != avgpool3x3(seg)` on the one-hot map with
 *   count_include_pad=False. The image border is no boundary and void pixels are never boundary pixels.
 * - dilation by r is the max over a (2r+1) x (2r+1) square (Chebyshev distance <= r), as maxpool(2r+1).
 * - BIoU: the trimap band is the union of the classes' boundaries dilated by `boundaryRadius` (5: an 11x11
 *   maxpool); the band's non-void pixels feed their own confusion matrix and BIoU is its mIoU.
 * - BF1: for class c, a predicted boundary pixel is correct when a ground-truth boundary pixel of c lies
 *   within `boundaryTolerance` (Chebyshev), and a ground-truth boundary pixel is found when a predicted one
 *   of c does. The four counts accumulate over the dataset; precision, recall and F1 per class; BF1 is the
 *   mean F1 over classes with ground-truth boundary pixels (a class never predicted there has F1 0). The
 *   reference adds 1e-8 to two denominators; this does not.
 * - `dropBackground` (the reference's drop_bg): class 0's boundary leaves the trimap and class 0 the BF1 mean.
 */

export type LabelMap = Uint8Array | Uint16Array | Int32Array | Uint32Array | Int16Array | Int8Array | readonly number[];

export interface SegmentationOptions {
  numClasses: number;
  /** Ground-truth value excluded from every count; default 255. */
  ignoreLabel?: number;
  /** Trimap half-width for boundary IoU; default 5. */
  boundaryRadius?: number;
  /** Pixel tolerance for boundary F1; default 5. */
  boundaryTolerance?: number;
  /** Leave class 0 out of the trimap and the BF1 mean; default false. */
  dropBackground?: boolean;
}

export interface SegmentationResult {
  /** Mean of `iou` over classes present in ground truth or prediction. */
  mIoU: number;
  /** IoU per class; NaN for a class absent from both ground truth and prediction. */
  iou: number[];
  /** Sum over classes of (ground-truth frequency) * IoU. */
  fwIoU: number;
  /** Mean of `accuracy` over classes present in ground truth. */
  mAcc: number;
  /** Per-class pixel accuracy (recall); NaN for a class absent from ground truth. */
  accuracy: number[];
  /** Correct pixels / counted pixels. */
  gAcc: number;
  /** mIoU inside the trimap band. */
  bIoU: number;
  bIoUPerClass: number[];
  /** Mean boundary F1 over classes with ground-truth boundaries. */
  bF1: number;
  bF1PerClass: number[];
  boundaryPrecision: number[];
  boundaryRecall: number[];
  /** Pixels counted (ground truth not ignored). */
  pixels: number;
}

const OP = 'SegmentationEvaluator';

/**
 * Boundary mask of a label map: pixels with a differently labelled pixel in their 3x3 neighbourhood inside
 * the image. Pixels equal to `ignoreLabel` are never boundary pixels (but make their neighbours ones).
 */
export function labelBoundaries(labels: LabelMap, height: number, width: number, ignoreLabel?: number): Uint8Array {
  const out = new Uint8Array(height * width);
  for (let y = 0; y < height; y++) {
    const y0 = Math.max(0, y - 1);
    const y1 = Math.min(height - 1, y + 1);
    for (let x = 0; x < width; x++) {
      const v = labels[y * width + x];
      if (v === ignoreLabel) continue;
      const x0 = Math.max(0, x - 1);
      const x1 = Math.min(width - 1, x + 1);
      let edge = 0;
      for (let yy = y0; yy <= y1 && !edge; yy++) {
        for (let xx = x0; xx <= x1; xx++) {
          if (labels[yy * width + xx] !== v) {
            edge = 1;
            break;
          }
        }
      }
      out[y * width + x] = edge;
    }
  }
  return out;
}

/** Binary dilation by a (2r+1) x (2r+1) square, in O(HW) with an integral image. */
export function dilateSquare(mask: Uint8Array, height: number, width: number, radius: number): Uint8Array {
  const W1 = width + 1;
  const integral = new Int32Array((height + 1) * W1);
  for (let y = 0; y < height; y++) {
    let row = 0;
    for (let x = 0; x < width; x++) {
      row += mask[y * width + x];
      integral[(y + 1) * W1 + x + 1] = integral[y * W1 + x + 1] + row;
    }
  }
  const out = new Uint8Array(height * width);
  for (let y = 0; y < height; y++) {
    const y0 = Math.max(0, y - radius);
    const y1 = Math.min(height, y + radius + 1);
    for (let x = 0; x < width; x++) {
      const x0 = Math.max(0, x - radius);
      const x1 = Math.min(width, x + radius + 1);
      const sum = integral[y1 * W1 + x1] - integral[y0 * W1 + x1] - integral[y1 * W1 + x0] + integral[y0 * W1 + x0];
      out[y * width + x] = sum > 0 ? 1 : 0;
    }
  }
  return out;
}

/** mIoU, FWIoU, mAcc, gAcc and per-class IoU / accuracy of a K x K confusion matrix (rows ground truth). */
export function confusionMetrics(confusion: ArrayLike<number>, numClasses: number) {
  const K = numClasses;
  const iou: number[] = [];
  const accuracy: number[] = [];
  let total = 0;
  let correct = 0;
  const rows = new Float64Array(K);
  const cols = new Float64Array(K);
  for (let i = 0; i < K; i++) {
    for (let j = 0; j < K; j++) {
      const v = confusion[i * K + j];
      rows[i] += v;
      cols[j] += v;
      total += v;
    }
    correct += confusion[i * K + i];
  }
  let fwIoU = 0;
  for (let c = 0; c < K; c++) {
    const tp = confusion[c * K + c];
    const union = rows[c] + cols[c] - tp;
    iou.push(union > 0 ? tp / union : NaN);
    accuracy.push(rows[c] > 0 ? tp / rows[c] : NaN);
    if (rows[c] > 0) fwIoU += (rows[c] / total) * iou[c];
  }
  return {
    iou,
    accuracy,
    mIoU: nanMean(iou),
    mAcc: nanMean(accuracy),
    fwIoU: total > 0 ? fwIoU : NaN,
    gAcc: total > 0 ? correct / total : NaN,
    pixels: total,
  };
}

function nanMean(values: number[]): number {
  const defined = values.filter((v) => !Number.isNaN(v));
  return defined.length ? defined.reduce((s, v) => s + v, 0) / defined.length : NaN;
}

export class SegmentationEvaluator {
  readonly numClasses: number;
  readonly ignoreLabel: number;
  readonly boundaryRadius: number;
  readonly boundaryTolerance: number;
  readonly dropBackground: boolean;
  /** K x K, rows ground truth, columns prediction. */
  readonly confusion: Float64Array;
  /** The same inside the trimap band. */
  readonly bandConfusion: Float64Array;
  /** Per class: predicted boundary pixels, and those near a ground-truth one (the reference's n_fg, match_fg). */
  readonly predTotal: Float64Array;
  readonly predMatched: Float64Array;
  /** Per class: ground-truth boundary pixels, and those near a predicted one (n_gt, match_gt). */
  readonly gtTotal: Float64Array;
  readonly gtMatched: Float64Array;
  private images = 0;

  constructor(options: SegmentationOptions) {
    this.numClasses = assertInteger(OP, 'numClasses', options.numClasses, 1);
    this.ignoreLabel = assertInteger(OP, 'ignoreLabel', options.ignoreLabel ?? 255);
    if (this.ignoreLabel >= 0 && this.ignoreLabel < this.numClasses) {
      throw argumentError(OP, 'ignoreLabel', `a value outside the classes [0, ${this.numClasses})`, this.ignoreLabel);
    }
    this.boundaryRadius = assertInteger(OP, 'boundaryRadius', options.boundaryRadius ?? 5, 0);
    this.boundaryTolerance = assertInteger(OP, 'boundaryTolerance', options.boundaryTolerance ?? 5, 0);
    this.dropBackground = options.dropBackground ?? false;
    if (typeof this.dropBackground !== 'boolean')
      throw argumentError(OP, 'dropBackground', 'a boolean', this.dropBackground);
    const K = this.numClasses;
    this.confusion = new Float64Array(K * K);
    this.bandConfusion = new Float64Array(K * K);
    this.predMatched = new Float64Array(K);
    this.predTotal = new Float64Array(K);
    this.gtMatched = new Float64Array(K);
    this.gtTotal = new Float64Array(K);
  }

  /** Adds one image: `prediction` and `groundTruth` are H x W label maps in row-major order. */
  update(prediction: LabelMap, groundTruth: LabelMap, height: number, width: number): this {
    const image = this.images;
    assertInteger(OP, `update #${image}: height`, height, 1);
    assertInteger(OP, `update #${image}: width`, width, 1);
    const n = height * width;
    for (const [name, map] of [
      ['prediction', prediction],
      ['groundTruth', groundTruth],
    ] as const) {
      if (!map || typeof map.length !== 'number')
        throw argumentError(OP, `update #${image}: ${name}`, 'a label map (typed array or array)', map);
      if (map.length !== n)
        throw argumentError(OP, `update #${image}: ${name}.length`, `${n} (H ${height} x W ${width})`, map.length);
    }
    const K = this.numClasses;
    const ignore = this.ignoreLabel;
    for (let i = 0; i < n; i++) {
      const p = prediction[i];
      const g = groundTruth[i];
      if (!(Number.isInteger(p) && p >= 0 && p < K)) {
        throw argumentError(
          OP,
          `update #${image}: prediction[${i}] (y ${Math.floor(i / width)}, x ${i % width})`,
          `a class in [0, ${K})`,
          p,
        );
      }
      if (g !== ignore && !(Number.isInteger(g) && g >= 0 && g < K)) {
        throw argumentError(
          OP,
          `update #${image}: groundTruth[${i}] (y ${Math.floor(i / width)}, x ${i % width})`,
          `a class in [0, ${K}) or the ignore label ${ignore}`,
          g,
        );
      }
    }

    const gtEdge = labelBoundaries(groundTruth, height, width, ignore);
    const predEdge = labelBoundaries(prediction, height, width);
    let trimapEdge = gtEdge;
    if (this.dropBackground) {
      trimapEdge = gtEdge.slice();
      for (let i = 0; i < n; i++) if (groundTruth[i] === 0) trimapEdge[i] = 0;
    }
    const band = dilateSquare(trimapEdge, height, width, this.boundaryRadius);
    for (let i = 0; i < n; i++) {
      const g = groundTruth[i];
      if (g === ignore) continue;
      const cell = g * K + prediction[i];
      this.confusion[cell]++;
      if (band[i]) this.bandConfusion[cell]++;
    }

    // Boundary F1, one class at a time, each within the bounding box of its boundary pixels in either map:
    // nothing outside it is a boundary pixel of the class or within reach of one that counts.
    const box = new Int32Array(4 * K);
    for (let c = 0; c < K; c++) box.set([height, -1, width, -1], 4 * c);
    const grow = (c: number, y: number, x: number) => {
      const b = 4 * c;
      if (y < box[b]) box[b] = y;
      if (y > box[b + 1]) box[b + 1] = y;
      if (x < box[b + 2]) box[b + 2] = x;
      if (x > box[b + 3]) box[b + 3] = x;
    };
    for (let y = 0, i = 0; y < height; y++) {
      for (let x = 0; x < width; x++, i++) {
        if (gtEdge[i]) grow(groundTruth[i], y, x);
        if (predEdge[i]) grow(prediction[i], y, x);
      }
    }
    const r = this.boundaryTolerance;
    for (let c = 0; c < K; c++) {
      const [y0, y1, x0, x1] = box.subarray(4 * c, 4 * c + 4);
      if (y1 < 0) continue;
      const h = y1 - y0 + 1;
      const w = x1 - x0 + 1;
      const W1 = w + 1;
      // Integral images of the class's ground-truth and predicted boundary pixels inside the box.
      const gtSum = new Int32Array((h + 1) * W1);
      const predSum = new Int32Array((h + 1) * W1);
      for (let y = 0; y < h; y++) {
        let gtRow = 0;
        let predRow = 0;
        for (let x = 0; x < w; x++) {
          const i = (y0 + y) * width + x0 + x;
          gtRow += gtEdge[i] && groundTruth[i] === c ? 1 : 0;
          predRow += predEdge[i] && prediction[i] === c ? 1 : 0;
          gtSum[(y + 1) * W1 + x + 1] = gtSum[y * W1 + x + 1] + gtRow;
          predSum[(y + 1) * W1 + x + 1] = predSum[y * W1 + x + 1] + predRow;
        }
      }
      const near = (sum: Int32Array, y: number, x: number) => {
        const ya = Math.max(0, y - r);
        const yb = Math.min(h, y + r + 1);
        const xa = Math.max(0, x - r);
        const xb = Math.min(w, x + r + 1);
        return sum[yb * W1 + xb] - sum[ya * W1 + xb] - sum[yb * W1 + xa] + sum[ya * W1 + xa] > 0;
      };
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const i = (y0 + y) * width + x0 + x;
          if (predEdge[i] && prediction[i] === c) {
            this.predTotal[c]++;
            if (near(gtSum, y, x)) this.predMatched[c]++;
          }
          if (gtEdge[i] && groundTruth[i] === c) {
            this.gtTotal[c]++;
            if (near(predSum, y, x)) this.gtMatched[c]++;
          }
        }
      }
    }
    this.images++;
    return this;
  }

  reset(): void {
    for (const a of [
      this.confusion,
      this.bandConfusion,
      this.predMatched,
      this.predTotal,
      this.gtMatched,
      this.gtTotal,
    ])
      a.fill(0);
    this.images = 0;
  }

  result(): SegmentationResult {
    const K = this.numClasses;
    const whole = confusionMetrics(this.confusion, K);
    const band = confusionMetrics(this.bandConfusion, K);
    const boundaryPrecision: number[] = [];
    const boundaryRecall: number[] = [];
    const bF1PerClass: number[] = [];
    for (let c = 0; c < K; c++) {
      const precision = this.predTotal[c] > 0 ? this.predMatched[c] / this.predTotal[c] : this.gtTotal[c] > 0 ? 0 : NaN;
      const recall = this.gtTotal[c] > 0 ? this.gtMatched[c] / this.gtTotal[c] : NaN;
      boundaryPrecision.push(precision);
      boundaryRecall.push(recall);
      bF1PerClass.push(
        Number.isNaN(recall) ? NaN : precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0,
      );
    }
    return {
      mIoU: whole.mIoU,
      iou: whole.iou,
      fwIoU: whole.fwIoU,
      mAcc: whole.mAcc,
      accuracy: whole.accuracy,
      gAcc: whole.gAcc,
      bIoU: band.mIoU,
      bIoUPerClass: band.iou,
      bF1: nanMean(this.dropBackground ? bF1PerClass.slice(1) : bF1PerClass),
      bF1PerClass,
      boundaryPrecision,
      boundaryRecall,
      pixels: whole.pixels,
    };
  }
}
