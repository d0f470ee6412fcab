import * as tf from '@tensorflow/tfjs-core';
import { argumentError, assertInteger, checkShapes, pair } from '@deformjs/core';
import { bilinearGather } from '@deformjs/sampling';

export interface RoIAlignOptions {
  /** Scale from box coordinates to feature-map pixels (1 / stride). */
  spatialScale?: number;
  /** Samples per bin side; <= 0 (default -1) means adaptive: ceil(roi size / output size), as torchvision. */
  samplingRatio?: number;
  /** Shift box corners by -0.5 pixel (pixel-centre model, Detectron2's ROIAlignV2); default false. */
  aligned?: boolean;
}

/**
 * torchvision.ops.roi_align on NHWC features: input [N, H, W, C]; boxes [K, 5] rows (batch index, x1, y1,
 * x2, y2) in image coordinates, or one [K_i, 4] tensor per image; output [K, outH, outW, C]. Each bin
 * averages a grid of bilinear samples; samples outside [-1, H] x [-1, W] count as 0, samples in [-1, 0] or
 * [H-1, H] are clamped to the border (torchvision's semantics, aligned true or false). Differentiable with
 * respect to `input` (boxes get no gradient, as in torchvision). Sampling runs on @deformjs/sampling's
 * fused bilinear gather: the sample positions are computed on the host from the boxes.
 */
export function roiAlign(
  input: tf.Tensor,
  boxes: tf.Tensor | tf.Tensor[],
  outputSize: number | [number, number],
  options: RoIAlignOptions = {},
): tf.Tensor {
  const op = 'roiAlign';
  const { N, H, W, C } = checkShapes(op, [{ name: 'input', shape: input.shape, expected: ['N', 'H', 'W', 'C'] }]);
  const [outH, outW] = pair(op, 'outputSize', outputSize);
  const { spatialScale = 1, samplingRatio = -1, aligned = false } = options;
  if (!(spatialScale > 0) || !Number.isFinite(spatialScale))
    throw argumentError(op, 'spatialScale', 'a finite number > 0', spatialScale);
  assertInteger(op, 'samplingRatio', samplingRatio);
  const rois = roiRows(op, boxes, N);
  const K = rois.length / 5;
  if (K === 0) return tf.zeros([0, outH, outW, C]);

  // Each image's boxes become that image's queries (padded to the busiest image), so one batched gather serves all.
  const slot = new Int32Array(K);
  const perImage = new Int32Array(N);
  const geometry: Array<{ x0: number; y0: number; binW: number; binH: number; gh: number; gw: number }> = [];
  let maxSamples = 1;
  for (let k = 0; k < K; k++) {
    const b = rois[5 * k];
    if (!Number.isInteger(b) || b < 0 || b >= N)
      throw argumentError(op, 'boxes', `batch indices in [0, ${N})`, `${b} in row ${k}`);
    slot[k] = perImage[b]++;
    // float32 arithmetic as torchvision's kernel does it, so grid sizes and positions agree exactly.
    const offset = aligned ? 0.5 : 0;
    const x0 = Math.fround(Math.fround(rois[5 * k + 1] * spatialScale) - offset);
    const y0 = Math.fround(Math.fround(rois[5 * k + 2] * spatialScale) - offset);
    let roiW = Math.fround(Math.fround(Math.fround(rois[5 * k + 3] * spatialScale) - offset) - x0);
    let roiH = Math.fround(Math.fround(Math.fround(rois[5 * k + 4] * spatialScale) - offset) - y0);
    if (!aligned) {
      roiW = Math.max(roiW, 1);
      roiH = Math.max(roiH, 1);
    }
    const gh = samplingRatio > 0 ? samplingRatio : Math.ceil(roiH / outH);
    const gw = samplingRatio > 0 ? samplingRatio : Math.ceil(roiW / outW);
    geometry.push({ x0, y0, binW: roiW / outW, binH: roiH / outH, gh, gw });
    maxSamples = Math.max(maxSamples, gh * gw);
  }
  const bins = outH * outW;
  const Q = Math.max(...perImage) * bins;
  const P = maxSamples;
  const locations = new Float32Array(N * Q * P * 2);
  const weights = new Float32Array(N * Q * P);
  const rows = new Int32Array(K * bins);
  for (let k = 0; k < K; k++) {
    const b = rois[5 * k];
    const { x0, y0, binW, binH, gh, gw } = geometry[k];
    const scale = 1 / Math.max(gh * gw, 1);
    for (let ph = 0; ph < outH; ph++) {
      for (let pw = 0; pw < outW; pw++) {
        const q = slot[k] * bins + ph * outW + pw;
        rows[k * bins + ph * outW + pw] = b * Q + q;
        for (let iy = 0; iy < gh; iy++) {
          const y = y0 + ph * binH + ((iy + 0.5) * binH) / gh;
          for (let ix = 0; ix < gw; ix++) {
            const x = x0 + pw * binW + ((ix + 0.5) * binW) / gw;
            const s = (b * Q + q) * P + iy * gw + ix;
            if (y < -1 || y > H || x < -1 || x > W) continue;
            // torchvision clamps samples in [-1, 0] and [H-1, H] onto the border instead of fading them out.
            locations[2 * s] = Math.min(Math.max(x, 0), W - 1);
            locations[2 * s + 1] = Math.min(Math.max(y, 0), H - 1);
            weights[s] = scale;
          }
        }
      }
    }
  }
  return tf.tidy(() => {
    const value = tf.reshape(input, [N, H * W, 1, C]);
    const sampled = bilinearGather(
      value,
      [[H, W]],
      [0],
      tf.tensor(locations, [N, Q, 1, 1, P, 2]),
      tf.tensor(weights, [N, Q, 1, 1, P]),
      { normalized: false, reduce: 'sum' },
    );
    const pooled = tf.gather(tf.reshape(sampled, [N * Q, C]), tf.tensor1d(rows, 'int32'));
    return tf.reshape(pooled, [K, outH, outW, C]);
  });
}

function roiRows(op: string, boxes: tf.Tensor | tf.Tensor[], N: number): Float32Array {
  if (!Array.isArray(boxes)) {
    checkShapes(op, [{ name: 'boxes', shape: boxes.shape, expected: [null, 5] }]);
    return Float32Array.from(boxes.dataSync());
  }
  if (boxes.length !== N)
    throw argumentError(op, 'boxes', `one [K_i, 4] tensor per image (${N})`, `${boxes.length} tensors`);
  const out: number[] = [];
  boxes.forEach((t, b) => {
    checkShapes(op, [{ name: `boxes[${b}]`, shape: t.shape, expected: [null, 4] }]);
    const v = t.dataSync();
    for (let i = 0; i < v.length; i += 4) out.push(b, v[i], v[i + 1], v[i + 2], v[i + 3]);
  });
  return Float32Array.from(out);
}
