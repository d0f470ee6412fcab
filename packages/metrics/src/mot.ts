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

function checkBoxes(list: unknown, name: string): MotBox[] {
  const ids = new Set<number | string>();
  return requireArray(OP, name, list).map((value, n) => {
    const box = requireRecord(OP, `${name}[${n}]`, value);
    const id = box.id as number | string;
    if (typeof id !== 'number' && typeof id !== 'string')
      throw argumentError(OP, `${name}[${n}].id`, 'a number or a string', id);
    if (ids.has(id)) throw argumentError(OP, `${name}[${n}] (id ${id}).id`, 'an id used once per frame', id);
    ids.add(id);
    const b = box.bbox;
    if (!isFiniteNumbers(b, 4) || b[2] < 0 || b[3] < 0) {
      throw argumentError(OP, `${name}[${n}] (id ${id}).bbox`, '[x, y, w, h] of finite numbers with w, h >= 0', b);
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
