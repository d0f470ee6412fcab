import { argumentError } from '@deformjs/validate';

export interface FlowErrorResult {
  /** Mean end-point error ||pred - gt||_2 over counted pixels. */
  epe: number;
  /** Fractions of counted pixels with EPE below 1, 3 and 5 px. */
  px1: number;
  px3: number;
  px5: number;
  /** KITTI Fl: fraction of outliers, EPE > 3 px and > 5% of the ground-truth magnitude. */
  fl: number;
  /** Pixels counted. */
  pixels: number;
}

const OP = 'flowEndPointError';

/**
 * Optical-flow errors of H x W x 2 flows (interleaved u, v per pixel, NHWC), optionally only where `valid` is
 * nonzero (KITTI's sparse ground truth). Non-finite ground truth must be masked out by `valid`.
 */
export function flowEndPointError(
  prediction: ArrayLike<number>,
  groundTruth: ArrayLike<number>,
  valid?: ArrayLike<number>,
): FlowErrorResult {
  for (const [name, flow] of [
    ['prediction', prediction],
    ['groundTruth', groundTruth],
  ] as const) {
    if (!flow || typeof flow.length !== 'number') throw argumentError(OP, name, 'an H x W x 2 array', flow);
  }
  if (prediction.length % 2 !== 0)
    throw argumentError(OP, 'prediction.length', 'an even number (H x W x 2)', prediction.length);
  if (groundTruth.length !== prediction.length)
    throw argumentError(OP, 'groundTruth.length', `${prediction.length} (as prediction)`, groundTruth.length);
  const pixels = prediction.length / 2;
  if (valid !== undefined && valid.length !== pixels)
    throw argumentError(OP, 'valid.length', `${pixels} (H x W)`, valid.length);
  let sum = 0;
  let count = 0;
  let px1 = 0;
  let px3 = 0;
  let px5 = 0;
  let outliers = 0;
  for (let i = 0; i < pixels; i++) {
    if (valid !== undefined && !valid[i]) continue;
    const gu = groundTruth[2 * i];
    const gv = groundTruth[2 * i + 1];
    const pu = prediction[2 * i];
    const pv = prediction[2 * i + 1];
    if (!Number.isFinite(gu) || !Number.isFinite(gv))
      throw argumentError(OP, `groundTruth at pixel ${i}`, 'finite (u, v) or the pixel masked out by valid', [gu, gv]);
    if (!Number.isFinite(pu) || !Number.isFinite(pv))
      throw argumentError(OP, `prediction at pixel ${i}`, 'finite (u, v)', [pu, pv]);
    const e = Math.hypot(pu - gu, pv - gv);
    sum += e;
    count++;
    if (e < 1) px1++;
    if (e < 3) px3++;
    if (e < 5) px5++;
    if (e > 3 && e > 0.05 * Math.hypot(gu, gv)) outliers++;
  }
  return {
    epe: count ? sum / count : NaN,
    px1: count ? px1 / count : NaN,
    px3: count ? px3 / count : NaN,
    px5: count ? px5 / count : NaN,
    fl: count ? outliers / count : NaN,
    pixels: count,
  };
}
