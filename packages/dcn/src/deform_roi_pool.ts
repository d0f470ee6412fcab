import * as tf from '@tensorflow/tfjs-core';
import { argumentError, assertDtype, assertInteger, checkShapes, pair } from '@deformjs/core';
import { bilinearGather } from '@deformjs/sampling';

const OP = 'deformRoIPool';

export interface DeformRoIPoolOptions {
  /** Pooled height and width (ph, pw). */
  outputSize: number | [number, number];
  /** Feature-map pixels per image pixel (1 / stride). Default 1. */
  spatialScale?: number;
  /** Samples per bin side; 0 (the default) takes ceil(roi size / output size) for each RoI. */
  samplingRatio?: number;
  /** Offset scale: a bin moves by gamma * (roi width, roi height) * offset. Default 0.1. */
  gamma?: number;
  /** Per-bin offsets [R, ph, pw, 2], last axis (dx, dy) (mmcv's (R, 2, ph, pw) moved to channels-last). */
  offset?: tf.Tensor | null;
  /** Per-bin modulation [R, ph, pw, 1] multiplying the pooled value (ModulatedDeformRoIPoolPack's mask). */
  mask?: tf.Tensor | null;
}

/** Host-side geometry of every RoI: where its bins start, how big they are, how they are sampled. */
interface RoIGeometry {
  batchIndex: Int32Array;
  startW: Float64Array;
  startH: Float64Array;
  roiW: Float64Array;
  roiH: Float64Array;
  gridH: Int32Array;
  gridW: Int32Array;
}

/**
 * Modulated deformable RoI pooling, mmcv's variant (`mmcv.ops.deform_roi_pool` times the mask of
 * ModulatedDeformRoIPoolPack), NHWC. input [N, H, W, C]; rois [R, 5] rows (batch index, x1, y1, x2, y2) in image
 * coordinates. Each RoI is mapped without rounding (start = x1 * spatialScale - 0.5), cut into ph x pw bins,
 * each bin shifted by gamma * (roi_w, roi_h) * offset and averaged over a grid of bilinear samples; a sample
 * outside [-1, H] x [-1, W] counts as 0 and one inside is clamped into the map (RoIAlign's convention). Returns
 * [R, ph, pw, C], differentiable in input, offset and mask.
 *
 * The gradient is the exact derivative of this forward. mmcv's hand-written CUDA offset gradient differs from it
 * for samples in the border band where the forward clamps (-1 <= y < 0 or H-1 < y <= H, likewise x).
 */
export function deformRoIPool(input: tf.Tensor, rois: tf.Tensor, options: DeformRoIPoolOptions): tf.Tensor4D {
  const { offset = null, mask = null } = options;
  for (const [name, t] of [
    ['input', input],
    ['rois', rois],
  ] as const) {
    if (!(t instanceof tf.Tensor)) throw argumentError(OP, name, 'a tensor', t);
    assertDtype(OP, name, t.dtype, ['float32']);
  }
  if (options === null || typeof options !== 'object')
    throw argumentError(OP, 'options', '{ outputSize, ... }', options);
  const [ph, pw] = pair(OP, 'outputSize', options.outputSize);
  const spatialScale = options.spatialScale ?? 1;
  if (!(spatialScale > 0) || !Number.isFinite(spatialScale))
    throw argumentError(OP, 'spatialScale', 'a finite number > 0', spatialScale);
  const samplingRatio = assertInteger(OP, 'samplingRatio', options.samplingRatio ?? 0, 0);
  const gamma = options.gamma ?? 0.1;
  if (!Number.isFinite(gamma)) throw argumentError(OP, 'gamma', 'a finite number', gamma);
  const { N, R } = checkShapes(OP, [
    { name: 'input', shape: input.shape, expected: ['N', 'H', 'W', 'C'] },
    { name: 'rois', shape: rois.shape, expected: ['R', 5] },
  ]);
  if (offset !== null) {
    if (!(offset instanceof tf.Tensor)) throw argumentError(OP, 'offset', 'a tensor or null', offset);
    assertDtype(OP, 'offset', offset.dtype, ['float32']);
    checkShapes(OP, [{ name: 'offset', shape: offset.shape, expected: ['R', ph, pw, 2] }], { R });
  }
  if (mask !== null) {
    if (!(mask instanceof tf.Tensor)) throw argumentError(OP, 'mask', 'a tensor or null', mask);
    assertDtype(OP, 'mask', mask.dtype, ['float32']);
    checkShapes(OP, [{ name: 'mask', shape: mask.shape, expected: ['R', ph, pw, 1] }], { R });
  }
  const geometry = roiGeometry(rois.dataSync() as Float32Array, N, spatialScale, ph, pw, samplingRatio);

  return tf.tidy(() => {
    if (N === 0) return tf.zeros([0, ph, pw, input.shape[3] as number]) as tf.Tensor4D;
    const perImage: tf.Tensor[] = [];
    const order: number[] = [];
    for (let b = 0; b < N; b++) {
      const members: number[] = [];
      geometry.batchIndex.forEach((image, r) => image === b && members.push(r));
      // With no RoIs at all, image 0 still runs (with no queries) so that the input gets its zero gradient.
      if (members.length === 0 && !(R === 0 && b === 0)) continue;
      perImage.push(poolImage(input, b, members, geometry, offset, [ph, pw], gamma));
      order.push(...members);
    }
    const grouped = perImage.length === 1 ? perImage[0] : tf.concat(perImage, 0);
    const inOrder = order.every((r, i) => r === i);
    const pooled = inOrder ? grouped : tf.gather(grouped, inverse(order));
    return (mask ? tf.mul(pooled, mask) : pooled) as tf.Tensor4D;
  });
}

function roiGeometry(
  rois: Float32Array,
  N: number,
  scale: number,
  ph: number,
  pw: number,
  samplingRatio: number,
): RoIGeometry {
  const R = rois.length / 5;
  const g: RoIGeometry = {
    batchIndex: new Int32Array(R),
    startW: new Float64Array(R),
    startH: new Float64Array(R),
    roiW: new Float64Array(R),
    roiH: new Float64Array(R),
    gridH: new Int32Array(R),
    gridW: new Int32Array(R),
  };
  for (let r = 0; r < R; r++) {
    const b = rois[5 * r];
    if (!Number.isInteger(b) || b < 0 || b >= N) {
      throw argumentError(
        OP,
        'rois',
        `batch indices (column 0) that are integers in [0, ${N - 1}]`,
        `${b} in row ${r}`,
      );
    }
    for (let k = 1; k < 5; k++) {
      if (!Number.isFinite(rois[5 * r + k]))
        throw argumentError(OP, 'rois', 'finite box coordinates', `${rois[5 * r + k]} in row ${r}`);
    }
    g.batchIndex[r] = b;
    g.startW[r] = rois[5 * r + 1] * scale - 0.5;
    g.startH[r] = rois[5 * r + 2] * scale - 0.5;
    g.roiW[r] = rois[5 * r + 3] * scale - 0.5 - g.startW[r];
    g.roiH[r] = rois[5 * r + 4] * scale - 0.5 - g.startH[r];
    g.gridH[r] = samplingRatio > 0 ? samplingRatio : Math.max(0, Math.ceil(g.roiH[r] / ph));
    g.gridW[r] = samplingRatio > 0 ? samplingRatio : Math.max(0, Math.ceil(g.roiW[r] / pw));
  }
  return g;
}

/**
 * Pools the RoIs `members` of image b: one bilinear gather whose queries are the bins and whose points are the
 * bin's samples, weighted 1/count (padding points, for RoIs with fewer samples than the largest, weigh 0).
 */
function poolImage(
  input: tf.Tensor,
  b: number,
  members: number[],
  g: RoIGeometry,
  offset: tf.Tensor | null,
  [ph, pw]: [number, number],
  gamma: number,
): tf.Tensor {
  const [, H, W, C] = input.shape;
  const bins = ph * pw;
  const Q = members.length * bins;
  const P = Math.max(1, ...members.map((r) => g.gridH[r] * g.gridW[r]));
  const base = new Float32Array(Q * P * 2);
  const sampleWeights = new Float32Array(Q * P);
  const shiftScale = new Float32Array(Q * 2);
  members.forEach((r, m) => {
    const binH = g.roiH[r] / ph;
    const binW = g.roiW[r] / pw;
    const [gh, gw] = [g.gridH[r], g.gridW[r]];
    const weight = 1 / Math.max(gh * gw, 1);
    for (let i = 0; i < ph; i++) {
      for (let j = 0; j < pw; j++) {
        const q = m * bins + i * pw + j;
        shiftScale[2 * q] = gamma * g.roiW[r];
        shiftScale[2 * q + 1] = gamma * g.roiH[r];
        for (let iy = 0; iy < gh; iy++) {
          for (let ix = 0; ix < gw; ix++) {
            const s = q * P + iy * gw + ix;
            base[2 * s] = g.startW[r] + j * binW + ((ix + 0.5) * binW) / gw;
            base[2 * s + 1] = g.startH[r] + i * binH + ((iy + 0.5) * binH) / gh;
            sampleWeights[s] = weight;
          }
        }
      }
    }
  });
  let locations = tf.tensor(base, [Q, P, 2]);
  if (offset) {
    const rows = tf.reshape(tf.gather(offset, tf.tensor1d(members, 'int32')), [Q, 1, 2]);
    locations = tf.add(locations, tf.mul(rows, tf.tensor(shiftScale, [Q, 1, 2])));
  }
  const [x, y] = tf.split(locations, 2, 2);
  // mmcv's bilinear_interpolate: 0 outside [-1, H] x [-1, W], else the point clamped into [0, H-1] x [0, W-1].
  // (1 - step(-1 - t)) is t >= -1 and (1 - step(t - size)) is t <= size, as float indicators with zero gradient.
  const inside = (t: tf.Tensor, size: number) =>
    tf.mul(tf.sub(1, tf.step(tf.sub(-1, t))), tf.sub(1, tf.step(tf.sub(t, size))));
  const weights = tf.mul(tf.tensor(sampleWeights, [Q, P, 1]), tf.mul(inside(x, W), inside(y, H)));
  const clamped = tf.concat([tf.clipByValue(x, 0, W - 1), tf.clipByValue(y, 0, H - 1)], 2);
  const value = tf.reshape(tf.slice(input, [b, 0, 0, 0], [1, H, W, C]), [1, H * W, 1, C]);
  const pooled = bilinearGather(
    value,
    [[H, W]],
    [0],
    tf.reshape(clamped, [1, Q, 1, 1, P, 2]),
    tf.reshape(weights, [1, Q, 1, 1, P]),
    {
      normalized: false,
      reduce: 'sum',
    },
  );
  return tf.reshape(pooled, [members.length, ph, pw, C]);
}

function inverse(order: number[]): tf.Tensor1D {
  const inv = new Int32Array(order.length);
  order.forEach((r, i) => (inv[r] = i));
  return tf.tensor1d(inv, 'int32');
}
