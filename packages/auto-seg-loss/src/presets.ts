import { CURVES_PER_METRIC, type TargetMetric } from './surrogates';

/**
 * The control points found by the official search on PASCAL VOC (DeepLabV3+ proxy), as released in
 * fundamentalvision/Auto-Seg-Loss's retrain configs. FWIoU and BIoU share one result, as do mAcc and gAcc.
 * mIoU, FWIoU and BIoU: g_I then g_U, two pieces each; mAcc, gAcc: one curve of two pieces; BF1: four
 * one-piece curves (g1, g2 of the AND, g3, g4 of the OR). The official BIoU retrain sets drop_bg.
 */
export const VOC_PRESETS: Readonly<Record<TargetMetric, readonly number[]>> = {
  mIoU: [
    5.6972844e-4, 6.4372045e-1, 3.38589169e-1, 7.0554336e-1, 6.25281252e-1, 7.79551927e-1, 6.9037557e-1, 1.306289e-2,
    8.34170515e-1, 9.62431815e-1, 9.42998269e-1, 9.80038125e-1,
  ],
  FWIoU: [
    3.65390355e-4, 9.84171689e-1, 9.69491959e-1, 9.92340326e-1, 9.88328516e-1, 9.95552719e-1, 3.54609758e-1,
    2.67221928e-1, 5.60551465e-1, 4.35290039e-1, 5.65432191e-1, 6.01448298e-1,
  ],
  BIoU: [
    3.65390355e-4, 9.84171689e-1, 9.69491959e-1, 9.92340326e-1, 9.88328516e-1, 9.95552719e-1, 3.54609758e-1,
    2.67221928e-1, 5.60551465e-1, 4.35290039e-1, 5.65432191e-1, 6.01448298e-1,
  ],
  mAcc: [2.1453928e-2, 7.3905742e-1, 4.1163361e-1, 7.9865617e-1, 9.1986191e-1, 9.5041156e-1],
  gAcc: [2.1453928e-2, 7.3905742e-1, 4.1163361e-1, 7.9865617e-1, 9.1986191e-1, 9.5041156e-1],
  BF1: [
    0.8113003373146057, 0.8526162505149841, 0.17164576053619385, 0.03164796531200409, 0.20997394621372223,
    0.44903290271759033, 0.07847517728805542, 0.8753038048744202,
  ],
};

/** The identity control points (g(x) = x) of every curve of a metric, with `numPieces` pieces per curve. */
export function identityControlPoints(metric: TargetMetric, numPieces = metric === 'BF1' ? 1 : 2): number[] {
  const curves = CURVES_PER_METRIC[metric];
  const points = 2 * numPieces - 1;
  const curve: number[] = [];
  for (let k = 1; k <= points; k++) curve.push(k / (points + 1), k / (points + 1));
  return Array.from({ length: curves }, () => curve).flat();
}
