/**
 * An independent reference for the tests: Deformable Kernels written tap by tap from tfjs ops (gather, floor,
 * arithmetic), with autodiff gradients and no fused kernel, following the official CUDA loops literally.
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * Reads rows of `planes` ([P, height*width]) bilinearly: element e reads plane `plane[e]` at (y[e], x[e]); 0
 * unless -1 < y < height and -1 < x < width, and corners outside give 0.
 */
function bilinear(
  planes: tf.Tensor2D,
  plane: tf.Tensor1D,
  y: tf.Tensor1D,
  x: tf.Tensor1D,
  height: number,
  width: number,
): tf.Tensor1D {
  const flat = tf.reshape(planes, [-1]);
  // Corners, indices and masks carry no gradient: compute them from detached copies of the positions.
  const yd = tf.tensor1d(y.dataSync());
  const xd = tf.tensor1d(x.dataSync());
  const valid = tf.logicalAnd(
    tf.logicalAnd(tf.greater(yd, -1), tf.less(yd, height)),
    tf.logicalAnd(tf.greater(xd, -1), tf.less(xd, width)),
  );
  const y0 = tf.floor(yd);
  const x0 = tf.floor(xd);
  const ly = tf.sub(y, y0);
  const lx = tf.sub(x, x0);
  let out = tf.zerosLike(y);
  for (const [dy, dx] of [
    [0, 0],
    [0, 1],
    [1, 0],
    [1, 1],
  ]) {
    const yc = tf.add(y0, dy);
    const xc = tf.add(x0, dx);
    const inside = tf.logicalAnd(
      valid,
      tf.logicalAnd(
        tf.logicalAnd(tf.greaterEqual(yc, 0), tf.lessEqual(yc, height - 1)),
        tf.logicalAnd(tf.greaterEqual(xc, 0), tf.lessEqual(xc, width - 1)),
      ),
    );
    const flatIndex = tf.add(
      tf.mul(plane, height * width),
      tf.add(tf.mul(tf.clipByValue(yc, 0, height - 1), width), tf.clipByValue(xc, 0, width - 1)),
    );
    const index = tf.cast(flatIndex, 'int32');
    const weight = tf.mul(dy ? ly : tf.sub(1, ly), dx ? lx : tf.sub(1, lx));
    out = tf.add(out, tf.mul(tf.cast(inside, 'float32'), tf.mul(weight, tf.gather(flat, index))));
  }
  return out as tf.Tensor1D;
}

export interface ReferenceConfig {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
}

/**
 * The official DeformableSampleDepthwise (offsets given) / SampleDepthwise (offsets null) in NHWC: input
 * [N, H, W, C], weight [sH, sW, C, 1], deltas [N, Ho, Wo, R*K*2] or null (zero), offsets [N, Ho, Wo, K*2] or null.
 */
export function referenceDeformKernel(
  input: tf.Tensor4D,
  weight: tf.Tensor4D,
  deltas: tf.Tensor4D | null,
  offsets: tf.Tensor4D | null,
  groups: number,
  config: ReferenceConfig,
): tf.Tensor4D {
  const [N, H, W, C] = input.shape;
  const [sH, sW] = weight.shape;
  const [kh, kw] = config.kernel;
  const Ho = Math.floor((H + 2 * config.padding[0] - config.dilation[0] * (kh - 1) - 1) / config.stride[0]) + 1;
  const Wo = Math.floor((W + 2 * config.padding[1] - config.dilation[1] * (kw - 1) - 1) / config.stride[1]) + 1;
  const K = kh * kw;
  // Elements in NHWC output order: e = ((n*Ho + ho)*Wo + wo)*C + c.
  const count = N * Ho * Wo * C;
  const n = new Float32Array(count);
  const ho = new Float32Array(count);
  const wo = new Float32Array(count);
  const c = new Float32Array(count);
  for (let e = 0; e < count; e++) {
    c[e] = e % C;
    wo[e] = Math.floor(e / C) % Wo;
    ho[e] = Math.floor(e / (C * Wo)) % Ho;
    n[e] = Math.floor(e / (C * Wo * Ho));
  }
  const imagePlanes = tf.reshape(tf.transpose(input, [0, 3, 1, 2]), [N * C, H * W]) as tf.Tensor2D;
  const kernelPlanes = tf.transpose(tf.reshape(weight, [sH * sW, C])) as tf.Tensor2D;
  const imagePlane = tf.tensor1d(n.map((v, e) => v * C + c[e]));
  const kernelPlane = tf.tensor1d(c);
  // Row of the per-position channel vectors: (n, ho, wo) flattened.
  const position = tf.tensor1d(
    n.map((v, e) => (v * Ho + ho[e]) * Wo + wo[e]),
    'int32',
  );
  const group = c.map((v) => v % groups);
  let out = tf.zeros([count]) as tf.Tensor1D;
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const t = i * kw + j;
      let y: tf.Tensor1D = tf.tensor1d(
        ho.map((v) => v * config.stride[0] - config.padding[0] + i * config.dilation[0]),
      );
      let x: tf.Tensor1D = tf.tensor1d(
        wo.map((v) => v * config.stride[1] - config.padding[1] + j * config.dilation[1]),
      );
      if (offsets) {
        const rows = tf.reshape(offsets, [N * Ho * Wo, K * 2]);
        y = tf.add(y, tf.gather(tf.gather(rows, 2 * t, 1), position)) as tf.Tensor1D;
        x = tf.add(x, tf.gather(tf.gather(rows, 2 * t + 1, 1), position)) as tf.Tensor1D;
      }
      const sample = bilinear(imagePlanes, imagePlane, y, x, H, W);
      let fy: tf.Tensor1D = tf.fill([count], i + (sH - kh) / 2) as tf.Tensor1D;
      let fx: tf.Tensor1D = tf.fill([count], j + (sW - kw) / 2) as tf.Tensor1D;
      if (deltas) {
        const rows = tf.reshape(deltas, [N * Ho * Wo * groups * K * 2]);
        const base = tf.tensor1d(
          Array.from(n, (_, e) => (((n[e] * Ho + ho[e]) * Wo + wo[e]) * groups + group[e]) * K * 2 + 2 * t),
          'int32',
        );
        fy = tf.add(fy, tf.gather(rows, base)) as tf.Tensor1D;
        fx = tf.add(fx, tf.gather(rows, tf.add(base, tf.scalar(1, 'int32')))) as tf.Tensor1D;
      }
      out = tf.add(out, tf.mul(sample, bilinear(kernelPlanes, kernelPlane, fy, fx, sH, sW))) as tf.Tensor1D;
    }
  }
  return tf.reshape(out, [N, Ho, Wo, C]) as tf.Tensor4D;
}
