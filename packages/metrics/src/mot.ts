import { argumentError, isFiniteNumbers, requireArray, requireRecord } from '@deformjs/validate';
import { linearSumAssignment } from './assignment';

/**
 * CLEAR MOT (Bernardin & Stiefelhagen 2008) with IoU distances, as py-motmetrics accumulates it: in each
 * frame a ground-truth object keeps the hypothesis it was last matched to when both are present and still
 * close enough; the rest are matched by a minimum-distance assignment that first maximises the number of
 * matches; a match to a different hypothesis than the object's last one is an ID switch.
 */

export interface MotBox {
  id: number | string;
  /** [x, y, w, h] */
  bbox: readonly number[];
}

export interface MotFrame {
  groundTruth: readonly MotBox[];
  hypotheses: readonly MotBox[];
}

export interface MotOptions {
  /** A pair can match when IoU >= this (distance 1 - IoU <= 1 - threshold); default 0.5. */
  iouThreshold?: number;
}

export interface MotResult {
  /** 1 - (FN + FP + IDSW) / GT; -Infinity..1, NaN without ground truth. */
  mota: number;
  /** Mean IoU of the matched pairs (NaN without matches). */
  motp: number;
  falsePositives: number;
  falseNegatives: number;
  idSwitches: number;
  matches: number;
  groundTruth: number;
}

const OP = 'clearMot';

function iou(a: readonly number[], b: readonly number[]): number {
  const w = Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  return inter / (a[2] * a[3] + b[2] * b[3] - inter);
}

function checkBoxes(list: unknown, name: string, op = OP): MotBox[] {
  const ids = new Set<number | string>();
  return requireArray(op, name, list).map((value, n) => {
    const box = requireRecord(op, `${name}[${n}]`, value);
    const id = box.id as number | string;
    if (typeof id !== 'number' && typeof id !== 'string')
      throw argumentError(op, `${name}[${n}].id`, 'a number or a string', id);
    if (ids.has(id)) throw argumentError(op, `${name}[${n}] (id ${id}).id`, 'an id used once per frame', id);
    ids.add(id);
    const b = box.bbox;
    if (!isFiniteNumbers(b, 4) || b[2] < 0 || b[3] < 0) {
      throw argumentError(op, `${name}[${n}] (id ${id}).bbox`, '[x, y, w, h] of finite numbers with w, h >= 0', b);
    }
    return box as unknown as MotBox;
  });
}

export function clearMot(frames: readonly MotFrame[], options: MotOptions = {}): MotResult {
  const threshold = options.iouThreshold ?? 0.5;
  if (typeof threshold !== 'number' || !(threshold > 0 && threshold <= 1))
    throw argumentError(OP, 'options.iouThreshold', 'a number in (0, 1]', threshold);
  const maxDistance = 1 - threshold;
  const last = new Map<number | string, number | string>();
  let fp = 0;
  let fn = 0;
  let switches = 0;
  let matches = 0;
  let total = 0;
  let iouSum = 0;
  requireArray(OP, 'frames', frames).forEach((value, f) => {
    const frame = requireRecord(OP, `frames[${f}]`, value);
    const gts = checkBoxes(frame.groundTruth, `frames[${f}].groundTruth`);
    const hyps = checkBoxes(frame.hypotheses, `frames[${f}].hypotheses`);
    const G = gts.length;
    const H = hyps.length;
    const dist = new Float64Array(G * H);
    for (let g = 0; g < G; g++) for (let h = 0; h < H; h++) dist[g * H + h] = 1 - iou(gts[g].bbox, hyps[h].bbox);
    const valid = (g: number, h: number) => dist[g * H + h] <= maxDistance;
    const hypIndex = new Map(hyps.map((b, h) => [b.id, h]));
    const gtMatch = new Int32Array(G).fill(-1);
    const hypUsed = new Uint8Array(H);
    const match = (g: number, h: number) => {
      gtMatch[g] = h;
      hypUsed[h] = 1;
      matches++;
      iouSum += 1 - dist[g * H + h];
    };

    // Correspondences carried over from earlier frames.
    for (let g = 0; g < G; g++) {
      const previous = last.get(gts[g].id);
      const h = previous === undefined ? undefined : hypIndex.get(previous);
      if (h !== undefined && !hypUsed[h] && valid(g, h)) match(g, h);
    }

    // The rest: most matches first (invalid pairs cost more than any set of valid ones), then least distance.
    const rows: number[] = [];
    const cols: number[] = [];
    for (let g = 0; g < G; g++) if (gtMatch[g] < 0) rows.push(g);
    for (let h = 0; h < H; h++) if (!hypUsed[h]) cols.push(h);
    if (rows.length && cols.length) {
      const expensive = Math.min(rows.length, cols.length) + 1;
      const cost = new Float64Array(rows.length * cols.length);
      rows.forEach((g, r) =>
        cols.forEach((h, c) => (cost[r * cols.length + c] = valid(g, h) ? dist[g * H + h] : expensive)),
      );
      const { rowIndices, colIndices } = linearSumAssignment(cost, rows.length, cols.length);
      rowIndices.forEach((r, k) => {
        const g = rows[r];
        const h = cols[colIndices[k]];
        if (!valid(g, h)) return;
        const previous = last.get(gts[g].id);
        if (previous !== undefined && previous !== hyps[h].id) switches++;
        match(g, h);
      });
    }
    for (let g = 0; g < G; g++) if (gtMatch[g] >= 0) last.set(gts[g].id, hyps[gtMatch[g]].id);
    total += G;
    fn += G - gtMatch.filter((h) => h >= 0).length;
    fp += H - hypUsed.reduce((s, u) => s + u, 0);
  });
  return {
    mota: total > 0 ? 1 - (fn + fp + switches) / total : NaN,
    motp: matches > 0 ? iouSum / matches : NaN,
    falsePositives: fp,
    falseNegatives: fn,
    idSwitches: switches,
    matches,
    groundTruth: total,
  };
}

export interface IdentityResult {
  /** 2 IDTP / (2 IDTP + IDFP + IDFN); NaN when there are no boxes at all. */
  idf1: number;
  /** IDTP / (IDTP + IDFP). */
  idPrecision: number;
  /** IDTP / (IDTP + IDFN). */
  idRecall: number;
  idTruePositives: number;
  idFalsePositives: number;
  idFalseNegatives: number;
}

/**
 * Identity scores (Ristani et al. 2016, IDF1) as py-motmetrics computes them: every ground-truth trajectory is
 * matched to at most one hypothesis trajectory for the whole sequence, by a minimum-cost assignment where the
 * cost of a pair is the number of frames in which the two are not within `iouThreshold` (either box missing
 * counts); IDTP are the frames a matched pair agrees, IDFN the other ground-truth boxes, IDFP the other
 * hypothesis boxes. Boxes [x, y, w, h], as `clearMot`.
 */
export function identityF1(frames: readonly MotFrame[], options: { iouThreshold?: number } = {}): IdentityResult {
  const op = 'identityF1';
  const threshold = options.iouThreshold ?? 0.5;
  if (typeof threshold !== 'number' || !(threshold > 0 && threshold <= 1))
    throw argumentError(op, 'options.iouThreshold', 'a number in (0, 1]', threshold);
  const gtIndex = new Map<number | string, number>();
  const hypIndex = new Map<number | string, number>();
  const gtCount: number[] = [];
  const hypCount: number[] = [];
  // Frames in which a (ground truth, hypothesis) pair is within the threshold, keyed g * 2^20 + h.
  const agree = new Map<number, number>();
  const index = (map: Map<number | string, number>, counts: number[], id: number | string) => {
    let i = map.get(id);
    if (i === undefined) {
      i = counts.length;
      map.set(id, i);
      counts.push(0);
    }
    counts[i]++;
    return i;
  };
  requireArray(op, 'frames', frames).forEach((value, f) => {
    const frame = requireRecord(op, `frames[${f}]`, value);
    const gts = checkBoxes(frame.groundTruth, `frames[${f}].groundTruth`, op);
    const hyps = checkBoxes(frame.hypotheses, `frames[${f}].hypotheses`, op);
    const g = gts.map((b) => index(gtIndex, gtCount, b.id));
    const h = hyps.map((b) => index(hypIndex, hypCount, b.id));
    gts.forEach((gt, i) =>
      hyps.forEach((hyp, j) => {
        if (iou(gt.bbox, hyp.bbox) >= threshold) {
          const key = g[i] * 2 ** 20 + h[j];
          agree.set(key, (agree.get(key) ?? 0) + 1);
        }
      }),
    );
  });
  const G = gtCount.length;
  const H = hypCount.length;
  if (G >= 2 ** 20 || H >= 2 ** 20) throw argumentError(op, 'frames', 'fewer than 2^20 trajectories', [G, H]);
  // Pair (g, h): misses gtCount[g] + hypCount[h] - 2 * agree. Unmatched g costs gtCount[g], unmatched h
  // hypCount[h]: maximising total agreement over the pairs minimises the total, so assign on -agree.
  const cost = new Float64Array(G * H);
  for (const [key, n] of agree) cost[Math.floor(key / 2 ** 20) * H + (key % 2 ** 20)] = -n;
  let idtp = 0;
  if (G > 0 && H > 0) {
    const { rowIndices, colIndices } = linearSumAssignment(cost, G, H);
    rowIndices.forEach((g, n) => (idtp -= cost[g * H + colIndices[n]]));
  }
  const totalGt = gtCount.reduce((a, b) => a + b, 0);
  const totalHyp = hypCount.reduce((a, b) => a + b, 0);
  const idfn = totalGt - idtp;
  const idfp = totalHyp - idtp;
  return {
    idf1: totalGt + totalHyp > 0 ? (2 * idtp) / (totalGt + totalHyp) : NaN,
    idPrecision: totalHyp > 0 ? idtp / totalHyp : NaN,
    idRecall: totalGt > 0 ? idtp / totalGt : NaN,
    idTruePositives: idtp,
    idFalsePositives: idfp,
    idFalseNegatives: idfn,
  };
}

export interface JitterResult {
  /** Mean over `pairs` of the frame-to-frame change of a track's relative box error; NaN without pairs. */
  jitter: number;
  pairs: number;
}

/**
 * Box jitter against the ground truth (the stability measure of tracklet-conditioned detection, arXiv 1811.11167):
 * a hypothesis's error is (hypothesis - truth) [x, y, w, h] divided by the truth's [w, h, w, h], against the
 * ground-truth box it overlaps most (IoU >= `iouThreshold`); for a hypothesis present in consecutive frames on
 * the same ground-truth object, the mean absolute change of its 4 error values between the frames is one pair.
 * Boxes [x, y, w, h], as `clearMot`; ids must be unique across sequences when several are concatenated.
 */
export function trackJitter(frames: readonly MotFrame[], options: { iouThreshold?: number } = {}): JitterResult {
  const op = 'trackJitter';
  const threshold = options.iouThreshold ?? 0.5;
  if (typeof threshold !== 'number' || !(threshold > 0 && threshold <= 1))
    throw argumentError(op, 'options.iouThreshold', 'a number in (0, 1]', threshold);
  let last = new Map<number | string, { truth: number | string; error: number[] }>();
  let sum = 0;
  let pairs = 0;
  requireArray(op, 'frames', frames).forEach((value, f) => {
    const frame = requireRecord(op, `frames[${f}]`, value);
    const truths = checkBoxes(frame.groundTruth, `frames[${f}].groundTruth`, op);
    const now = new Map<number | string, { truth: number | string; error: number[] }>();
    for (const hypothesis of checkBoxes(frame.hypotheses, `frames[${f}].hypotheses`, op)) {
      let best: MotBox | null = null;
      let bestIou = threshold;
      for (const truth of truths) {
        const overlap = iou(hypothesis.bbox, truth.bbox);
        if (overlap >= bestIou) [best, bestIou] = [truth, overlap];
      }
      if (!best) continue;
      const { bbox } = best;
      const error = hypothesis.bbox.map((v, i) => (v - bbox[i]) / bbox[2 + (i % 2)]);
      now.set(hypothesis.id, { truth: best.id, error });
      const before = last.get(hypothesis.id);
      if (before && before.truth === best.id) {
        sum += error.reduce((s, e, i) => s + Math.abs(e - before.error[i]), 0) / 4;
        pairs++;
      }
    }
    last = now;
  });
  return { jitter: pairs > 0 ? sum / pairs : NaN, pairs };
}
