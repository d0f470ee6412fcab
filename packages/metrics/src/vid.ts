import {
  argumentError,
  assertInteger,
  finiteField,
  nonNegativeField,
  requireArray,
  requireRecord,
  xyxyBox,
} from '@deformjs/validate';
import { pairwiseSum } from './numeric';

/**
 * ImageNet VID detection mAP with the motion-speed breakdown, as FGFA's imagenet_vid_eval_motion.py
 * (msracver/Flow-Guided-Feature-Aggregation) computes it. Boxes are [x1, y1, x2, y2] in inclusive pixel
 * coordinates (width x2 - x1 + 1, the ImageNet convention) and every IoU below uses that convention.
 */

export interface VidObject {
  /** Identity of the object within its video (the XML trackid). */
  trackId: number | string;
  /** Class index in [0, numClasses). */
  label: number;
  /** [x1, y1, x2, y2], inclusive pixels. */
  bbox: readonly number[];
  /** Overrides the motion IoU computed from the track (e.g. FGFA's precomputed .mat values). */
  motionIou?: number;
}

export interface VidFrame {
  /** Unique key of the frame; detections refer to it. */
  frameId: number | string;
  videoId: number | string;
  /** Position of the frame in its video; the motion IoU window is measured in it. */
  frameIndex: number;
  objects: readonly VidObject[];
}

export interface VidDetection {
  frameId: number | string;
  label: number;
  score: number;
  /** [x1, y1, x2, y2], inclusive pixels. */
  bbox: readonly number[];
}

export interface VidMotionRange {
  label: string;
  /** Inclusive on both ends, as FGFA's `motion_iou < lo or motion_iou > hi` ignore test. */
  range: readonly [number, number];
}

export interface VidEvalOptions {
  /** Default 30 (ImageNet VID). */
  numClasses?: number;
  /** Default all [0, 1], fast [0, 0.7], medium [0.7, 0.9], slow [0.9, 1]. */
  motionRanges?: readonly VidMotionRange[];
  /** Frames on each side over which motion IoU averages; default 10. */
  motionWindow?: number;
  /** The +10 of the IoU threshold rule min(0.5, wh / ((w + 10)(h + 10))). */
  pixelTolerance?: number;
  /** The 0.5 of that rule. */
  defaultIouThr?: number;
}

export interface VidRangeResult {
  label: string;
  range: [number, number];
  /** AP per class; -1 for a class without ground truth in this range. */
  ap: number[];
  /** Mean over the classes with ap >= 0 (-1 when there is none). */
  mAP: number;
  /** Ground truth kept as positives in this range. */
  positives: number;
}

export interface VidEvalResult {
  ranges: VidRangeResult[];
  /** Motion IoU of every ground-truth object, frame by frame in input order. */
  motionIou: number[][];
}

export const VID_MOTION_RANGES: readonly VidMotionRange[] = [
  { label: 'all', range: [0, 1] },
  { label: 'fast', range: [0, 0.7] },
  { label: 'medium', range: [0.7, 0.9] },
  { label: 'slow', range: [0.9, 1] },
];

const OP = 'evaluateVid';

/** IoU of inclusive-pixel boxes (+1 widths), as FGFA's overlap code. */
export function vidBoxIou(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const iw = Math.min(a[2], b[2]) - Math.max(a[0], b[0]) + 1;
  const ih = Math.min(a[3], b[3]) - Math.max(a[1], b[1]) + 1;
  if (!(iw > 0 && ih > 0)) return 0;
  const ua = (a[2] - a[0] + 1) * (a[3] - a[1] + 1) + (b[2] - b[0] + 1) * (b[3] - b[1] + 1) - iw * ih;
  return (iw * ih) / ua;
}

/** VOC-style AP: area under the precision envelope, with sentinels (0, 0) and (1, 0). FGFA's vid_ap. */
export function vocAp(recall: ArrayLike<number>, precision: ArrayLike<number>): number {
  const n = recall.length;
  const mrec = new Float64Array(n + 2);
  const mpre = new Float64Array(n + 2);
  mrec[n + 1] = 1;
  for (let i = 0; i < n; i++) {
    mrec[i + 1] = recall[i];
    mpre[i + 1] = precision[i];
  }
  for (let i = n + 1; i > 0; i--) mpre[i - 1] = Math.max(mpre[i - 1], mpre[i]);
  const terms: number[] = [];
  for (let i = 0; i < n + 1; i++) if (mrec[i + 1] !== mrec[i]) terms.push((mrec[i + 1] - mrec[i]) * mpre[i + 1]);
  return pairwiseSum(terms);
}

/**
 * Motion IoU of every object: the mean IoU of its box with the boxes of the same track in the frames within
 * `window` of its own (itself excluded). An object seen in no such frame gets 0, as FGFA's loader turns an
 * empty entry into 0, so it counts as fast.
 */
export function vidMotionIou(frames: readonly VidFrame[], window = 10): number[][] {
  const tracks = new Map<string, { frameIndex: number; box: readonly number[]; at: [number, number] }[]>();
  frames.forEach((frame, f) => {
    frame.objects.forEach((obj, o) => {
      const key = `${typeof frame.videoId}:${frame.videoId}\u0000${typeof obj.trackId}:${obj.trackId}`;
      let list = tracks.get(key);
      if (!list) tracks.set(key, (list = []));
      list.push({ frameIndex: frame.frameIndex, box: obj.bbox, at: [f, o] });
    });
  });
  const out = frames.map((frame) => new Array<number>(frame.objects.length).fill(0));
  for (const list of tracks.values()) {
    list.sort((x, y) => x.frameIndex - y.frameIndex);
    let lo = 0;
    for (let i = 0; i < list.length; i++) {
      while (list[lo].frameIndex < list[i].frameIndex - window) lo++;
      let sum = 0;
      let count = 0;
      for (let j = lo; j < list.length && list[j].frameIndex <= list[i].frameIndex + window; j++) {
        if (j === i) continue;
        sum += vidBoxIou(list[i].box, list[j].box);
        count++;
      }
      out[list[i].at[0]][list[i].at[1]] = count ? sum / count : 0;
    }
  }
  return out;
}

/** ImageNet VID mAP overall and by motion speed, FGFA's vid_eval_motion with area range 'all'. */
export function evaluateVid(
  frames: readonly VidFrame[],
  detections: readonly VidDetection[],
  options: VidEvalOptions = {},
): VidEvalResult {
  const { numClasses, window, tolerance, defaultThr, motionRanges } = readVidOptions(options);
  const frameIndex = checkVidFrames(frames, numClasses);
  const perFrame = detectionsPerFrame(frames, detections, frameIndex, numClasses);
  const computed = vidMotionIou(frames, window);
  const motionIou = frames.map((frame, f) => frame.objects.map((obj, o) => obj.motionIou ?? computed[f][o]));
  const allMotion = motionIou.flat();
  const thresholds = frames.map((frame) =>
    frame.objects.map((obj) => {
      const w = obj.bbox[2] - obj.bbox[0] + 1;
      const h = obj.bbox[3] - obj.bbox[1] + 1;
      return Math.min((w * h) / ((w + tolerance) * (h + tolerance)), defaultThr);
    }),
  );
  const overlaps = frames.map((frame, f) =>
    perFrame[f].map((n) => frame.objects.map((obj) => vidBoxIou(detections[n].bbox, obj.bbox))),
  );

  // All detections in (descending score, frame, rank) order, for the per-class precision/recall curves.
  const ranked: [number, number][] = [];
  perFrame.forEach((list, f) => list.forEach((_, j) => ranked.push([f, j])));
  ranked.sort(
    ([fa, ja], [fb, jb]) =>
      detections[perFrame[fb][jb]].score - detections[perFrame[fa][ja]].score || fa - fb || ja - jb,
  );

  const scored: ScoredFrames = { frames, detections, perFrame, motionIou, allMotion, thresholds, overlaps, ranked };
  const ranges = motionRanges.map(({ label, range }) => evaluateMotionRange(scored, numClasses, label, range));
  return { ranges, motionIou };
}

function readVidOptions(options: VidEvalOptions): {
  numClasses: number;
  window: number;
  tolerance: number;
  defaultThr: number;
  motionRanges: { label: string; range: [number, number] }[];
} {
  const numClasses = assertInteger(OP, 'options.numClasses', options.numClasses ?? 30, 1);
  const window = assertInteger(OP, 'options.motionWindow', options.motionWindow ?? 10, 1);
  const tolerance = nonNegativeField(OP, { pixelTolerance: options.pixelTolerance ?? 10 }, 'options', 'pixelTolerance');
  const defaultThr = options.defaultIouThr ?? 0.5;
  if (typeof defaultThr !== 'number' || !(defaultThr > 0 && defaultThr <= 1))
    throw argumentError(OP, 'options.defaultIouThr', 'a number in (0, 1]', defaultThr);
  const motionRanges = (options.motionRanges ?? VID_MOTION_RANGES).map((r, n) => {
    if (
      !r ||
      typeof r.label !== 'string' ||
      !Array.isArray(r.range) ||
      r.range.length !== 2 ||
      !(r.range[0] <= r.range[1])
    ) {
      throw argumentError(OP, `options.motionRanges[${n}]`, '{label, range: [lo, hi]} with lo <= hi', r);
    }
    return { label: r.label, range: [r.range[0], r.range[1]] as [number, number] };
  });
  return { numClasses, window, tolerance, defaultThr, motionRanges };
}

/** Checks every frame and its objects; returns each frameId's index in `frames`. */
function checkVidFrames(frames: readonly VidFrame[], numClasses: number): Map<number | string, number> {
  const frameIndex = new Map<number | string, number>();
  const positions = new Set<string>();
  requireArray(OP, 'frames', frames).forEach((value, f) => {
    const frame = requireRecord(OP, `frames[${f}]`, value);
    const name = `frames[${f}] (frameId ${String(frame.frameId)})`;
    if (typeof frame.frameId !== 'number' && typeof frame.frameId !== 'string')
      throw argumentError(OP, `frames[${f}].frameId`, 'a number or a string', frame.frameId);
    if (frameIndex.has(frame.frameId))
      throw argumentError(OP, `${name}.frameId`, 'a frameId not used before', frame.frameId);
    frameIndex.set(frame.frameId, f);
    if (typeof frame.videoId !== 'number' && typeof frame.videoId !== 'string')
      throw argumentError(OP, `${name}.videoId`, 'a number or a string', frame.videoId);
    assertInteger(OP, `${name}.frameIndex`, frame.frameIndex);
    const position = `${typeof frame.videoId}:${frame.videoId}\u0000${frame.frameIndex}`;
    if (positions.has(position))
      throw argumentError(
        OP,
        `${name}.frameIndex`,
        `a frame index not used before in video ${String(frame.videoId)}`,
        frame.frameIndex,
      );
    positions.add(position);
    const tracks = new Set<unknown>();
    requireArray(OP, `${name}.objects`, frame.objects).forEach((o, n) => {
      const obj = requireRecord(OP, `${name}.objects[${n}]`, o);
      const objName = `${name}.objects[${n}] (trackId ${String(obj.trackId)})`;
      if (typeof obj.trackId !== 'number' && typeof obj.trackId !== 'string')
        throw argumentError(OP, `${objName}.trackId`, 'a number or a string', obj.trackId);
      if (tracks.has(obj.trackId))
        throw argumentError(OP, `${objName}.trackId`, 'a trackId used once per frame', obj.trackId);
      tracks.add(obj.trackId);
      assertInteger(OP, `${objName}.label`, obj.label, 0, numClasses - 1);
      xyxyBox(OP, `${objName}.bbox`, obj.bbox);
      if (
        obj.motionIou !== undefined &&
        !(typeof obj.motionIou === 'number' && obj.motionIou >= 0 && obj.motionIou <= 1)
      ) {
        throw argumentError(OP, `${objName}.motionIou`, 'a number in [0, 1]', obj.motionIou);
      }
    });
  });
  return frameIndex;
}

/** Checks the detections; returns each frame's detection indices by descending score (ties in input order). */
function detectionsPerFrame(
  frames: readonly VidFrame[],
  detections: readonly VidDetection[],
  frameIndex: Map<number | string, number>,
  numClasses: number,
): number[][] {
  const perFrame: number[][] = frames.map(() => []);
  requireArray(OP, 'detections', detections).forEach((value, n) => {
    const det = requireRecord(OP, `detections[${n}]`, value);
    const name = `detections[${n}] (frameId ${String(det.frameId)})`;
    const f = frameIndex.get(det.frameId as number | string);
    if (f === undefined) throw argumentError(OP, `${name}.frameId`, 'the frameId of a frame in frames', det.frameId);
    assertInteger(OP, `${name}.label`, det.label, 0, numClasses - 1);
    finiteField(OP, det, name, 'score');
    xyxyBox(OP, `${name}.bbox`, det.bbox);
    perFrame[f].push(n);
  });
  for (const list of perFrame) list.sort((x, y) => detections[y].score - detections[x].score || x - y);
  return perFrame;
}

/** What every motion range's evaluation shares: detections per frame, motion IoUs, match thresholds, overlaps. */
interface ScoredFrames {
  frames: readonly VidFrame[];
  detections: readonly VidDetection[];
  perFrame: number[][];
  motionIou: number[][];
  allMotion: number[];
  thresholds: number[][];
  overlaps: number[][][];
  ranked: [number, number][];
}

/** Per-class AP and mAP over the ground truth whose motion IoU lies in [lo, hi] (the rest is ignored). */
function evaluateMotionRange(
  { frames, detections, perFrame, motionIou, allMotion, thresholds, overlaps, ranked }: ScoredFrames,
  numClasses: number,
  label: string,
  [lo, hi]: [number, number],
): VidRangeResult {
  const emptyWeight = allMotion.length ? allMotion.filter((m) => m >= lo && m <= hi).length / allMotion.length : 0;
  const npos = new Float64Array(numClasses);
  const tp = perFrame.map((list) => new Float64Array(list.length));
  const fp = perFrame.map((list) => new Float64Array(list.length));
  frames.forEach((frame, f) => {
    const objects = frame.objects;
    const ignored = motionIou[f].map((m) => m < lo || m > hi);
    objects.forEach((obj, k) => {
      if (!ignored[k]) npos[obj.label]++;
    });
    const detected = new Uint8Array(objects.length);
    perFrame[f].forEach((n, j) => {
      const det = detections[n];
      let ovmax = -1;
      let kmax = -1;
      let ovmaxIgnored = -1;
      let ovmaxKept = -1;
      for (let k = 0; k < objects.length; k++) {
        const ov = overlaps[f][j][k];
        if (ov >= thresholds[f][k] && ov > ovmax && !detected[k] && det.label === objects[k].label) {
          ovmax = ov;
          kmax = k;
        }
        if (ignored[k] && ov > ovmaxIgnored) ovmaxIgnored = ov;
        if (!ignored[k] && ov > ovmaxKept) ovmaxKept = ov;
      }
      if (kmax >= 0) {
        detected[kmax] = 1;
        if (!ignored[kmax]) tp[f][j] = 1;
      } else if (ovmaxKept > ovmaxIgnored) {
        fp[f][j] = 1;
      } else if (ovmaxIgnored > ovmaxKept) {
        fp[f][j] = 0;
      } else if (objects.length === 0) {
        // FGFA weighs an unmatched detection in a frame without ground truth by the share of all ground
        // truth that falls in this speed range.
        fp[f][j] = emptyWeight;
      } else {
        fp[f][j] = ignored.filter(Boolean).length / objects.length;
      }
    });
  });

  const ap = new Array<number>(numClasses).fill(-1);
  const tpSum = new Float64Array(numClasses);
  const fpSum = new Float64Array(numClasses);
  const rec: number[][] = Array.from({ length: numClasses }, () => []);
  const prec: number[][] = Array.from({ length: numClasses }, () => []);
  for (const [f, j] of ranked) {
    const c = detections[perFrame[f][j]].label;
    tpSum[c] += tp[f][j];
    fpSum[c] += fp[f][j];
    rec[c].push(tpSum[c] / npos[c]);
    prec[c].push(tpSum[c] / Math.max(tpSum[c] + fpSum[c], Number.EPSILON));
  }
  for (let c = 0; c < numClasses; c++) if (npos[c] > 0) ap[c] = vocAp(rec[c], prec[c]);
  const valid = ap.filter((v) => v >= 0);
  const positives = npos.reduce((s, v) => s + v, 0);
  return {
    label,
    range: [lo, hi] as [number, number],
    ap,
    mAP: valid.length ? pairwiseSum(valid) / valid.length : -1,
    positives,
  };
}
