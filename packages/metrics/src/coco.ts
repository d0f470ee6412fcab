import {
  argumentError,
  finiteField,
  nonNegativeField,
  requireArray,
  requireRecord,
  xywhField,
} from '@deformjs/validate';
import { pairwiseSum } from './numeric';

/**
 * COCO box detection evaluation, the algorithm of pycocotools' COCOeval (iouType 'bbox') step for step:
 * evaluateImg's greedy matching per image and category, accumulate's precision/recall arrays, summarize's 12
 * stats. Only the data layout differs: typed arrays grouped per (category, image) with a counting sort, so
 * the work is linear in the number of boxes plus the per-group IoU matrices.
 */

export interface CocoImage {
  id: number;
  [field: string]: unknown;
}

export interface CocoCategory {
  id: number;
  name?: string;
  [field: string]: unknown;
}

export interface CocoAnnotation {
  id: number;
  image_id: number;
  category_id: number;
  /** [x, y, w, h] */
  bbox: readonly number[];
  /** Decides the area range (small / medium / large); COCO's is the mask area, not w * h. */
  area: number;
  /** Crowd boxes are ignore regions. Missing means 0. */
  iscrowd?: number | boolean;
  [field: string]: unknown;
}

export interface CocoDataset {
  images: readonly CocoImage[];
  annotations: readonly CocoAnnotation[];
  categories: readonly CocoCategory[];
}

export interface CocoDetection {
  image_id: number;
  category_id: number;
  /** [x, y, w, h] */
  bbox: readonly number[];
  score: number;
}

export interface CocoAreaRange {
  label: string;
  range: readonly [number, number];
}

export interface CocoEvalOptions {
  /** Default: linspace(.5, .95, 10) exactly as numpy computes it. */
  iouThrs?: readonly number[];
  /** Default: linspace(0, 1, 101). */
  recThrs?: readonly number[];
  /** Three limits on detections per image and category; default [1, 10, 100]. */
  maxDets?: readonly [number, number, number];
  /** Default all [0, 1e10], small [0, 32^2], medium [32^2, 96^2], large [96^2, 1e10]. */
  areaRanges?: readonly CocoAreaRange[];
  /** Evaluate only these images (default all of the ground truth's). */
  imgIds?: readonly number[];
  /** Evaluate only these categories (default all of the ground truth's). */
  catIds?: readonly number[];
}

export interface CocoCategoryResult {
  categoryId: number;
  name: string | undefined;
  /** AP over IoU .50:.95, area all, maxDets[2]; -1 when the category has no (non-ignored) ground truth. */
  ap: number;
  ap50: number;
  ap75: number;
  /** AR over IoU .50:.95, area all, maxDets[2]. */
  ar: number;
}

export interface CocoEvalResult {
  /** AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl (COCOeval.stats); -1 where undefined. */
  stats: number[];
  perCategory: CocoCategoryResult[];
  /** [T, R, K, A, M], as COCOeval.eval['counts']. */
  counts: [number, number, number, number, number];
  /** C-order T x R x K x A x M array of COCOeval.eval['precision'] (-1 where a setting has no ground truth). */
  precision: Float64Array;
  /** C-order T x K x A x M array of COCOeval.eval['recall']. */
  recall: Float64Array;
  /** C-order T x R x K x A x M array of COCOeval.eval['scores']: the score at which each recall is reached. */
  scores: Float64Array;
  params: {
    iouThrs: number[];
    recThrs: number[];
    maxDets: number[];
    areaRanges: CocoAreaRange[];
    imgIds: number[];
    catIds: number[];
  };
}

export const COCO_STAT_NAMES = [
  'AP',
  'AP50',
  'AP75',
  'APs',
  'APm',
  'APl',
  'AR1',
  'AR10',
  'AR100',
  'ARs',
  'ARm',
  'ARl',
] as const;

/** numpy.linspace(start, stop, num): i * step + start with the last point set to stop. */
function linspace(start: number, stop: number, num: number): number[] {
  const step = (stop - start) / (num - 1);
  return Array.from({ length: num }, (_, i) => (i === num - 1 ? stop : i * step + start));
}

export const COCO_IOU_THRESHOLDS: readonly number[] = linspace(0.5, 0.95, 10);
export const COCO_RECALL_THRESHOLDS: readonly number[] = linspace(0, 1, 101);
export const COCO_AREA_RANGES: readonly CocoAreaRange[] = [
  { label: 'all', range: [0, 1e10] },
  { label: 'small', range: [0, 32 ** 2] },
  { label: 'medium', range: [32 ** 2, 96 ** 2] },
  { label: 'large', range: [96 ** 2, 1e10] },
];

/** numpy's np.spacing(1), the epsilon in COCOeval's precision denominator. */
const EPS = 2.220446049250313e-16;
const FP = 0;
const TP = 1;
const IGNORED = 2;

const OP = 'evaluateCoco';

/**
 * IoU of COCO boxes as pycocotools' maskApi.c bbIou: against a crowd box the union is the detection's area,
 * so a detection inside a crowd region has IoU 1 whatever the region's size.
 */
export function cocoBoxIou(dt: ArrayLike<number>, d: number, gt: ArrayLike<number>, g: number, crowd: boolean): number {
  const dx = dt[4 * d],
    dy = dt[4 * d + 1],
    dw = dt[4 * d + 2],
    dh = dt[4 * d + 3];
  const gx = gt[4 * g],
    gy = gt[4 * g + 1],
    gw = gt[4 * g + 2],
    gh = gt[4 * g + 3];
  const w = Math.min(dw + dx, gw + gx) - Math.max(dx, gx);
  if (w <= 0) return 0;
  const h = Math.min(dh + dy, gh + gy) - Math.max(dy, gy);
  if (h <= 0) return 0;
  const inter = w * h;
  const da = dw * dh;
  return inter / (crowd ? da : da + gw * gh - inter);
}

/** Evaluates box detections against COCO-format ground truth; the numbers of pycocotools' COCOeval('bbox'). */
export function evaluateCoco(
  groundTruth: CocoDataset,
  results: readonly CocoDetection[],
  options: CocoEvalOptions = {},
): CocoEvalResult {
  const iouThrs = thresholds('options.iouThrs', options.iouThrs ?? COCO_IOU_THRESHOLDS);
  const recThrs = thresholds('options.recThrs', options.recThrs ?? COCO_RECALL_THRESHOLDS);
  const maxDets = maxDetections(options.maxDets ?? [1, 10, 100]);
  const areaRanges = areas(options.areaRanges ?? COCO_AREA_RANGES);

  const gt = requireRecord(OP, 'groundTruth', groundTruth);
  const images = requireArray(OP, 'groundTruth.images', gt.images);
  const categories = requireArray(OP, 'groundTruth.categories', gt.categories);
  const annotations = requireArray(OP, 'groundTruth.annotations', gt.annotations);
  const dets = requireArray(OP, 'results', results);

  const knownImages = uniqueIds('groundTruth.images', images);
  const knownCats = uniqueIds('groundTruth.categories', categories);
  const catNames = new Map<number, string | undefined>();
  for (const c of categories as CocoCategory[]) catNames.set(c.id, typeof c.name === 'string' ? c.name : undefined);

  const imgIds = subset('options.imgIds', options.imgIds, knownImages);
  const catIds = subset('options.catIds', options.catIds, knownCats);
  const I = imgIds.length;
  const K = catIds.length;
  const M = maxDets.length;
  const imgIndex = new Map(imgIds.map((id, i) => [id, i]));
  const catIndex = new Map(catIds.map((id, k) => [id, k]));

  const ids: CocoIds = { knownImages, knownCats, imgIndex, catIndex };
  const { gtGroup, gtBox, gtArea, gtCrowd } = groundTruthArrays(annotations, ids);
  const { dtGroup, dtBox, dtScore } = detectionArrays(dets, ids);

  // Groups are category-major, so one category's groups are contiguous and in image order, as accumulate
  // concatenates them.
  const groups = K * I;
  const gtArrays: GroundTruthArrays = { box: gtBox, area: gtArea, crowd: gtCrowd, ...groupBy(gtGroup, groups) };
  const dtArrays: DetectionArrays = { box: dtBox, score: dtScore, ...groupBy(dtGroup, groups) };
  const matched = evaluateGroups(gtArrays, dtArrays, K, I, iouThrs, areaRanges, maxDets[M - 1]);
  const { precision, recall, scores } = accumulate(
    matched,
    dtScore,
    K,
    iouThrs.length,
    recThrs,
    areaRanges.length,
    maxDets,
  );
  const T = iouThrs.length;
  const R = recThrs.length;
  const A = areaRanges.length;
  const counts: [number, number, number, number, number] = [T, R, K, A, M];

  const { stats, perCategory } = summarizeCoco(
    precision,
    recall,
    counts,
    iouThrs,
    maxDets,
    areaRanges,
    catIds,
    catNames,
  );

  return {
    stats,
    perCategory,
    counts,
    precision,
    recall,
    scores,
    params: {
      iouThrs,
      recThrs,
      maxDets,
      areaRanges: areaRanges.map((r) => ({ label: r.label, range: [r.range[0], r.range[1]] as const })),
      imgIds,
      catIds,
    },
  };
}

/** The ids of the ground truth's images and categories, and the index of each evaluated one. */
interface CocoIds {
  knownImages: Set<number>;
  knownCats: Set<number>;
  imgIndex: Map<number, number>;
  catIndex: Map<number, number>;
}

/** The (category, image) group of an annotation or detection, -1 when its image or category is not evaluated. */
function groupOf({ imgIndex, catIndex }: CocoIds, imageId: number, catId: number): number {
  const i = imgIndex.get(imageId);
  const k = catIndex.get(catId);
  return i !== undefined && k !== undefined ? k * imgIndex.size + i : -1;
}

/** Checks every annotation (all of them, evaluated or not) and lays out the evaluated ones in typed arrays. */
function groundTruthArrays(
  annotations: unknown[],
  ids: CocoIds,
): { gtGroup: Int32Array; gtBox: Float64Array; gtArea: Float64Array; gtCrowd: Uint8Array } {
  const { knownImages, knownCats } = ids;
  const gtGroup = new Int32Array(annotations.length);
  const gtBox = new Float64Array(4 * annotations.length);
  const gtArea = new Float64Array(annotations.length);
  const gtCrowd = new Uint8Array(annotations.length);
  const annIds = new Set<number>();
  annotations.forEach((value, n) => {
    const base = `groundTruth.annotations[${n}]`;
    const ann = requireRecord(OP, base, value);
    const id = finiteField(OP, ann, base, 'id');
    const name = `${base} (id ${id})`;
    if (annIds.has(id)) throw argumentError(OP, `${name}.id`, 'an annotation id not used before', id);
    annIds.add(id);
    const imageId = finiteField(OP, ann, name, 'image_id');
    if (!knownImages.has(imageId))
      throw argumentError(OP, `${name}.image_id`, 'the id of an image in groundTruth.images', imageId);
    const catId = finiteField(OP, ann, name, 'category_id');
    if (!knownCats.has(catId))
      throw argumentError(OP, `${name}.category_id`, 'the id of a category in groundTruth.categories', catId);
    const box = xywhField(OP, ann, name);
    gtArea[n] = nonNegativeField(OP, ann, name, 'area');
    const crowd = ann.iscrowd ?? 0;
    if (crowd !== 0 && crowd !== 1 && crowd !== true && crowd !== false) {
      throw argumentError(OP, `${name}.iscrowd`, '0, 1 or a boolean', crowd);
    }
    gtCrowd[n] = crowd ? 1 : 0;
    gtBox.set(box, 4 * n);
    gtGroup[n] = groupOf(ids, imageId, catId);
  });
  return { gtGroup, gtBox, gtArea, gtCrowd };
}

/** Checks every detection and lays them out in typed arrays, group -1 for those not evaluated. */
function detectionArrays(
  dets: unknown[],
  ids: CocoIds,
): { dtGroup: Int32Array; dtBox: Float64Array; dtScore: Float64Array } {
  const { knownImages, knownCats } = ids;
  const dtGroup = new Int32Array(dets.length);
  const dtBox = new Float64Array(4 * dets.length);
  const dtScore = new Float64Array(dets.length);
  for (let n = 0; n < dets.length; n++) {
    const det = dets[n] as CocoDetection;
    // The common case checked without building names; anything off goes to checkDetection, which throws.
    const box = det?.bbox;
    const ok =
      typeof det === 'object' &&
      det !== null &&
      knownImages.has(det.image_id) &&
      knownCats.has(det.category_id) &&
      Array.isArray(box) &&
      box.length === 4 &&
      Number.isFinite(box[0]) &&
      Number.isFinite(box[1]) &&
      box[2] >= 0 &&
      box[3] >= 0 &&
      Number.isFinite(box[2]) &&
      Number.isFinite(box[3]) &&
      Number.isFinite(det.score);
    if (!ok) checkDetection(det, n, knownImages, knownCats);
    dtBox[4 * n] = box[0];
    dtBox[4 * n + 1] = box[1];
    dtBox[4 * n + 2] = box[2];
    dtBox[4 * n + 3] = box[3];
    dtScore[n] = det.score;
    dtGroup[n] = groupOf(ids, det.image_id, det.category_id);
  }
  return { dtGroup, dtBox, dtScore };
}

/** COCOeval.summarize(): the 12 standard stats and each category's AP, AP50, AP75 and AR. */
function summarizeCoco(
  precision: Float64Array,
  recall: Float64Array,
  [, R, K, A, M]: [number, number, number, number, number],
  iouThrs: number[],
  maxDets: number[],
  areaRanges: CocoAreaRange[],
  catIds: number[],
  catNames: Map<number, string | undefined>,
): Pick<CocoEvalResult, 'stats' | 'perCategory'> {
  const areaIndex = (label: string) => areaRanges.findIndex((r) => r.label === label);
  const iouIndex = (thr: number) => iouThrs.indexOf(thr);
  const summarize = (ap: boolean, iouThr: number | null, area: string, md: number, cats: number[]) => {
    const a = areaIndex(area);
    const m = maxDets.lastIndexOf(md);
    const ts = iouThr === null ? iouThrs.map((_, t) => t) : [iouIndex(iouThr)].filter((t) => t >= 0);
    const values: number[] = [];
    if (a >= 0 && m >= 0) {
      for (const t of ts) {
        if (ap) {
          for (let r = 0; r < R; r++)
            for (const k of cats) values.push(precision[(((t * R + r) * K + k) * A + a) * M + m]);
        } else {
          for (const k of cats) values.push(recall[((t * K + k) * A + a) * M + m]);
        }
      }
    }
    return meanDefined(values);
  };
  const allCats = catIds.map((_, k) => k);
  const [m0, m1, m2] = maxDets;
  const stats = [
    summarize(true, null, 'all', m2, allCats),
    summarize(true, 0.5, 'all', m2, allCats),
    summarize(true, 0.75, 'all', m2, allCats),
    summarize(true, null, 'small', m2, allCats),
    summarize(true, null, 'medium', m2, allCats),
    summarize(true, null, 'large', m2, allCats),
    summarize(false, null, 'all', m0, allCats),
    summarize(false, null, 'all', m1, allCats),
    summarize(false, null, 'all', m2, allCats),
    summarize(false, null, 'small', m2, allCats),
    summarize(false, null, 'medium', m2, allCats),
    summarize(false, null, 'large', m2, allCats),
  ];
  const perCategory = catIds.map((categoryId, k) => ({
    categoryId,
    name: catNames.get(categoryId),
    ap: summarize(true, null, 'all', m2, [k]),
    ap50: summarize(true, 0.5, 'all', m2, [k]),
    ap75: summarize(true, 0.75, 'all', m2, [k]),
    ar: summarize(false, null, 'all', m2, [k]),
  }));
  return { stats, perCategory };
}

/**
 * The 12 lines COCOeval.summarize() prints, for logs:
 * ` Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.378`.
 */
export function formatCocoSummary(result: CocoEvalResult): string {
  const { iouThrs, maxDets } = result.params;
  const [m0, m1, m2] = maxDets;
  const rows: [boolean, number | null, string, number][] = [
    [true, null, 'all', m2],
    [true, 0.5, 'all', m2],
    [true, 0.75, 'all', m2],
    [true, null, 'small', m2],
    [true, null, 'medium', m2],
    [true, null, 'large', m2],
    [false, null, 'all', m0],
    [false, null, 'all', m1],
    [false, null, 'all', m2],
    [false, null, 'small', m2],
    [false, null, 'medium', m2],
    [false, null, 'large', m2],
  ];
  return rows
    .map(([ap, iouThr, area, md], i) => {
      const title = (ap ? 'Average Precision' : 'Average Recall').padEnd(18);
      const iou = (
        iouThr === null ? `${iouThrs[0].toFixed(2)}:${iouThrs[iouThrs.length - 1].toFixed(2)}` : iouThr.toFixed(2)
      ).padEnd(9);
      return ` ${title} ${ap ? '(AP)' : '(AR)'} @[ IoU=${iou} | area=${area.padStart(6)} | maxDets=${String(md).padStart(3)} ] = ${result.stats[i].toFixed(3)}`;
    })
    .join('\n');
}

interface GroundTruthArrays {
  box: Float64Array;
  area: Float64Array;
  crowd: Uint8Array;
  /** Boxes of group g are order[start[g] .. start[g + 1]), in input order. */
  start: Int32Array;
  order: Int32Array;
}

interface DetectionArrays {
  box: Float64Array;
  score: Float64Array;
  start: Int32Array;
  order: Int32Array;
}

/** Per-detection outcome of COCOeval.evaluateImg for every (area range, IoU threshold). */
interface MatchedDetections {
  /** Detections kept after each image's cut to maxDet, in (category, image, rank) order. */
  det: Int32Array;
  rank: Int32Array;
  /** FP / TP / IGNORED at [(kept * A + a) * T + t]. */
  flags: Uint8Array;
  /** Category k's kept detections are catStart[k] .. catStart[k + 1]. */
  catStart: Int32Array;
  /** Non-ignored ground truth per (category, area range): accumulate's npig. */
  npig: Int32Array;
}

/** COCOeval.computeIoU + evaluateImg for every (category, image) group with boxes. */
function evaluateGroups(
  gt: GroundTruthArrays,
  dt: DetectionArrays,
  K: number,
  I: number,
  iouThrs: readonly number[],
  areaRanges: readonly CocoAreaRange[],
  maxDet: number,
): MatchedDetections {
  const T = iouThrs.length;
  const A = areaRanges.length;
  const groups = K * I;
  let keptCount = 0;
  let maxG = 0;
  let maxD = 0;
  for (let g = 0; g < groups; g++) {
    const D = dt.start[g + 1] - dt.start[g];
    keptCount += Math.min(D, maxDet);
    maxG = Math.max(maxG, gt.start[g + 1] - gt.start[g]);
    maxD = Math.max(maxD, D);
  }
  const out: MatchedDetections = {
    det: new Int32Array(keptCount),
    rank: new Int32Array(keptCount),
    flags: new Uint8Array(keptCount * A * T),
    catStart: new Int32Array(K + 1),
    npig: new Int32Array(K * A),
  };
  const thresholds = iouThrs.map((t) => Math.min(t, 1 - 1e-10));
  const ious = new Float64Array(Math.min(maxD, maxDet) * maxG);
  const gtIndex = new Int32Array(maxG);
  const gtColumn = new Int32Array(maxG);
  const gtIgnore = new Uint8Array(maxG);
  const gtCrowd = new Uint8Array(maxG);
  const gtMatched = new Uint8Array(maxG);
  const dtSorted = new Int32Array(maxD);

  let kept = 0;
  for (let k = 0; k < K; k++) {
    out.catStart[k] = kept;
    for (let i = 0; i < I; i++) {
      const g = k * I + i;
      const gStart = gt.start[g];
      const G = gt.start[g + 1] - gStart;
      const Dall = dt.start[g + 1] - dt.start[g];
      if (G === 0 && Dall === 0) continue;

      // Detections by descending score, ties in input order (numpy's stable mergesort), cut to maxDet:
      // insertion sort for the usual handful, a comparator sort for crowded groups.
      if (Dall <= 32) {
        for (let j = 0; j < Dall; j++) {
          const n = dt.order[dt.start[g] + j];
          const score = dt.score[n];
          let at = j;
          while (at > 0 && dt.score[dtSorted[at - 1]] < score) {
            dtSorted[at] = dtSorted[at - 1];
            at--;
          }
          dtSorted[at] = n;
        }
      } else {
        const group = dtSorted.subarray(0, Dall);
        group.set(dt.order.subarray(dt.start[g], dt.start[g + 1]));
        group.sort((x, y) => dt.score[y] - dt.score[x] || x - y);
      }
      const D = Math.min(Dall, maxDet);
      for (let d = 0; d < D; d++) {
        for (let q = 0; q < G; q++) {
          const n = gt.order[gStart + q];
          ious[d * G + q] = cocoBoxIou(dt.box, dtSorted[d], gt.box, n, gt.crowd[n] === 1);
        }
      }

      for (let a = 0; a < A; a++) {
        const [lo, hi] = areaRanges[a].range;
        // Ground truth with the ignored ones last, stable.
        let G0 = 0;
        for (let pass = 0; pass < 2; pass++) {
          for (let q = 0; q < G; q++) {
            const n = gt.order[gStart + q];
            const ignore = gt.crowd[n] === 1 || gt.area[n] < lo || gt.area[n] > hi ? 1 : 0;
            if (ignore !== pass) continue;
            gtIndex[G0] = n;
            gtColumn[G0] = q;
            gtIgnore[G0] = ignore;
            gtCrowd[G0] = gt.crowd[n];
            G0++;
          }
          if (pass === 0) out.npig[k * A + a] += G0;
        }

        if (G === 0) {
          // Nothing to match: every detection is a false positive, or ignored outside the area range.
          for (let d = 0; d < D; d++) {
            const n = dtSorted[d];
            const area = dt.box[4 * n + 2] * dt.box[4 * n + 3];
            out.flags.fill(
              area < lo || area > hi ? IGNORED : FP,
              ((kept + d) * A + a) * T,
              ((kept + d) * A + a + 1) * T,
            );
          }
          continue;
        }
        for (let t = 0; t < T; t++) {
          gtMatched.fill(0, 0, G);
          for (let d = 0; d < D; d++) {
            let best = thresholds[t];
            let m = -1;
            const row = d * G;
            for (let q = 0; q < G; q++) {
              if (gtMatched[q] && !gtCrowd[q]) continue;
              if (m > -1 && gtIgnore[m] === 0 && gtIgnore[q] === 1) break;
              const iou = ious[row + gtColumn[q]];
              if (iou < best) continue;
              best = iou;
              m = q;
            }
            let flag: number;
            if (m === -1) {
              const n = dtSorted[d];
              const area = dt.box[4 * n + 2] * dt.box[4 * n + 3];
              flag = area < lo || area > hi ? IGNORED : FP;
            } else {
              gtMatched[m] = 1;
              flag = gtIgnore[m] ? IGNORED : TP;
            }
            out.flags[((kept + d) * A + a) * T + t] = flag;
          }
        }
      }
      for (let d = 0; d < D; d++) {
        out.det[kept + d] = dtSorted[d];
        out.rank[kept + d] = d;
      }
      kept += D;
    }
  }
  out.catStart[K] = kept;
  return out;
}

/**
 * COCOeval.accumulate: the T x R x K x A x M precision and scores and T x K x A x M recall arrays.
 *
 * COCOeval fills precision and recall at every detection, takes the running max of precision from the
 * right, and reads it at the first index whose recall reaches each threshold. Recall only rises at true
 * positives, so that index is a true positive (or 0, for a threshold of 0); and after a true positive the
 * precision of a false or ignored detection never exceeds that true positive's (same numerator, larger or
 * equal denominator). So the running max at a true positive is the running max over true positives alone,
 * and this computes precision only there, with COCOeval's arithmetic: the same numbers, less work.
 */
function accumulate(
  matched: MatchedDetections,
  score: Float64Array,
  K: number,
  T: number,
  recThrs: readonly number[],
  A: number,
  maxDets: readonly number[],
) {
  const R = recThrs.length;
  const M = maxDets.length;
  const precision = new Float64Array(T * R * K * A * M).fill(-1);
  const recall = new Float64Array(T * K * A * M).fill(-1);
  const scores = new Float64Array(T * R * K * A * M).fill(-1);
  let maxKept = 0;
  for (let k = 0; k < K; k++) maxKept = Math.max(maxKept, matched.catStart[k + 1] - matched.catStart[k]);
  // One spare slot per threshold for the branch-free writes below.
  const slots = maxKept + 1;
  const tpPrecision = new Float64Array(T * slots);
  const tpScore = new Float64Array(T * slots);
  const tp = new Float64Array(T);
  const fp = new Float64Array(T);
  const order = new Int32Array(maxKept);
  // The category's detections gathered in score order, so the passes below read memory in sequence.
  const sortedScore = new Float64Array(maxKept);
  const sortedRank = new Int32Array(maxKept);
  const sortedFlags = new Uint8Array(maxKept * A * T);
  for (let k = 0; k < K; k++) {
    const start = matched.catStart[k];
    const n = matched.catStart[k + 1] - start;
    // All of a category's detections by descending score; ties keep (image, rank) order as the stable
    // mergesort over the concatenation does.
    stableOrderByDescendingScore(matched.det.subarray(start, start + n), score, order);
    for (let j = 0; j < n; j++) {
      const e = start + order[j];
      sortedScore[j] = score[matched.det[e]];
      sortedRank[j] = matched.rank[e];
      for (let f = 0; f < A * T; f++) sortedFlags[j * A * T + f] = matched.flags[e * A * T + f];
    }
    for (let a = 0; a < A; a++) {
      const positives = matched.npig[k * A + a];
      if (positives === 0) continue;
      for (let m = 0; m < M; m++) {
        const limit = maxDets[m];
        tp.fill(0);
        fp.fill(0);
        let nd = 0;
        let firstScore = 0;
        for (let j = 0; j < n; j++) {
          if (sortedRank[j] >= limit) continue;
          const s = sortedScore[j];
          if (nd === 0) firstScore = s;
          const base = (j * A + a) * T;
          for (let t = 0; t < T; t++) {
            // Branch-free (the flags are unpredictable): a true positive writes its own slot, anything else
            // writes the next free slot, which the next true positive overwrites.
            const flag = sortedFlags[base + t];
            const isTp = flag === TP ? 1 : 0;
            const count = tp[t] + isTp;
            const false_ = fp[t] + (flag === FP ? 1 : 0);
            tp[t] = count;
            fp[t] = false_;
            const at = t * slots + count - isTp;
            tpPrecision[at] = count / (false_ + count + EPS);
            tpScore[at] = s;
          }
          nd++;
        }
        for (let t = 0; t < T; t++) {
          const off = t * slots;
          const count = tp[t];
          recall[((t * K + k) * A + a) * M + m] = nd ? count / positives : 0;
          for (let j = count - 1; j > 0; j--)
            if (tpPrecision[off + j] > tpPrecision[off + j - 1]) tpPrecision[off + j - 1] = tpPrecision[off + j];
          let p = 0;
          for (let r = 0; r < R; r++) {
            const at = (((t * R + r) * K + k) * A + a) * M + m;
            const threshold = recThrs[r];
            if (nd === 0) {
              precision[at] = 0;
              scores[at] = 0;
            } else if (threshold <= 0) {
              // The first detection, whatever it is: the running max over everything.
              precision[at] = count ? tpPrecision[off] : 0;
              scores[at] = firstScore;
            } else {
              while (p < count && (p + 1) / positives < threshold) p++;
              precision[at] = p < count ? tpPrecision[off + p] : 0;
              scores[at] = p < count ? tpScore[off + p] : 0;
            }
          }
        }
      }
    }
  }
  return { precision, recall, scores };
}

/**
 * Fills order[0..n) with the positions of `det` sorted by descending score, ties by position (a stable
 * sort). The scores are ranked with a native numeric sort of the distinct values and the positions then
 * placed by a counting sort on those ranks: much faster than a comparator sort.
 */
function stableOrderByDescendingScore(det: Int32Array, score: Float64Array, order: Int32Array): void {
  const n = det.length;
  if (n === 0) return;
  // + 0 turns -0 into 0, so the two compare as the equal scores they are.
  const key = new Float64Array(n);
  for (let j = 0; j < n; j++) key[j] = -score[det[j]] + 0;
  const sorted = key.slice().sort();
  let distinct = 1;
  for (let j = 1; j < n; j++) if (sorted[j] !== sorted[distinct - 1]) sorted[distinct++] = sorted[j];
  const rank = new Int32Array(n);
  const count = new Int32Array(distinct + 1);
  for (let j = 0; j < n; j++) {
    let lo = 0;
    let hi = distinct - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid] < key[j]) lo = mid + 1;
      else hi = mid;
    }
    rank[j] = lo;
    count[lo + 1]++;
  }
  for (let r = 0; r < distinct; r++) count[r + 1] += count[r];
  for (let j = 0; j < n; j++) order[count[rank[j]]++] = j;
}

/** np.mean(s[s > -1]) (with numpy's pairwise summation), or -1 when nothing is defined. */
function meanDefined(values: number[]): number {
  const defined = values.filter((v) => v > -1);
  if (defined.length === 0) return -1;
  return pairwiseSum(defined, 0, defined.length) / defined.length;
}

function groupBy(group: Int32Array, groups: number): { start: Int32Array; order: Int32Array } {
  const start = new Int32Array(groups + 1);
  for (let n = 0; n < group.length; n++) if (group[n] >= 0) start[group[n] + 1]++;
  for (let g = 0; g < groups; g++) start[g + 1] += start[g];
  const order = new Int32Array(start[groups]);
  const fill = start.slice(0, groups);
  for (let n = 0; n < group.length; n++) if (group[n] >= 0) order[fill[group[n]]++] = n;
  return { start, order };
}

/** Throws the error that names what is wrong with results[n]. */
function checkDetection(value: unknown, n: number, knownImages: Set<number>, knownCats: Set<number>): never {
  const base = `results[${n}]`;
  const det = requireRecord(OP, base, value);
  const imageId = finiteField(OP, det, base, 'image_id');
  const name = `${base} (image_id ${imageId})`;
  if (!knownImages.has(imageId))
    throw argumentError(OP, `${name}.image_id`, 'the id of an image in groundTruth.images', imageId);
  const catId = finiteField(OP, det, name, 'category_id');
  if (!knownCats.has(catId))
    throw argumentError(OP, `${name}.category_id`, 'the id of a category in groundTruth.categories', catId);
  xywhField(OP, det, name);
  finiteField(OP, det, name, 'score');
  throw new Error(`${OP}: ${base} failed validation`);
}

function uniqueIds(name: string, records: unknown[]): Set<number> {
  const ids = new Set<number>();
  records.forEach((value, n) => {
    const record = requireRecord(OP, `${name}[${n}]`, value);
    const id = finiteField(OP, record, `${name}[${n}]`, 'id');
    if (ids.has(id)) throw argumentError(OP, `${name}[${n}].id`, 'an id not used before', id);
    ids.add(id);
  });
  return ids;
}

/** COCOeval sorts and dedupes params.imgIds / catIds (np.unique). */
function subset(name: string, chosen: readonly number[] | undefined, known: Set<number>): number[] {
  const ids = chosen === undefined ? [...known] : [...new Set(requireArray(OP, name, chosen) as number[])];
  ids.forEach((id, n) => {
    if (!known.has(id)) throw argumentError(OP, `${name}[${n}]`, 'an id present in the ground truth', id);
  });
  return ids.sort((x, y) => x - y);
}

function thresholds(name: string, values: readonly number[]): number[] {
  const list = requireArray(OP, name, values);
  if (list.length === 0) throw argumentError(OP, name, 'a non-empty array', list);
  list.forEach((v, n) => {
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw argumentError(OP, `${name}[${n}]`, 'a number in [0, 1]', v);
    // COCOeval's accumulate stops at the first recall threshold it cannot reach, which assumes ascending order.
    if (n > 0 && !(v > (list[n - 1] as number)))
      throw argumentError(OP, `${name}[${n}]`, `a number above ${name}[${n - 1}] = ${list[n - 1]} (ascending)`, v);
  });
  return [...(list as number[])];
}

function maxDetections(values: readonly number[]): number[] {
  const list = requireArray(OP, 'options.maxDets', values);
  if (list.length !== 3 || !list.every((v) => Number.isInteger(v) && (v as number) > 0)) {
    throw argumentError(
      OP,
      'options.maxDets',
      'three positive integers (as COCOeval.summarize reads maxDets[0..2])',
      list,
    );
  }
  return (list as number[]).slice().sort((x, y) => x - y);
}

function areas(ranges: readonly CocoAreaRange[]): CocoAreaRange[] {
  const list = requireArray(OP, 'options.areaRanges', ranges);
  if (list.length === 0) throw argumentError(OP, 'options.areaRanges', 'a non-empty array', list);
  return list.map((value, n) => {
    const r = requireRecord(OP, `options.areaRanges[${n}]`, value);
    const range = r.range;
    if (
      typeof r.label !== 'string' ||
      !Array.isArray(range) ||
      range.length !== 2 ||
      !range.every((v) => typeof v === 'number' && !Number.isNaN(v))
    ) {
      throw argumentError(OP, `options.areaRanges[${n}]`, '{label: string, range: [min, max]}', value);
    }
    if (!(range[0] <= range[1]))
      throw argumentError(OP, `options.areaRanges[${n}].range`, '[min, max] with min <= max', range);
    return { label: r.label, range: [range[0], range[1]] as const };
  });
}
