/**
 * A direct float64 loop port of torchvision's CPU deform_conv2d forward (deform_conv2d_kernel.cpp), written
 * in NHWC / HWIO: the independent oracle the tests compare against on random configurations.
 */
export interface OracleArgs {
  input: ArrayLike<number>;
  inputShape: [number, number, number, number];
  offset: ArrayLike<number>;
  mask: ArrayLike<number> | null;
  weight: ArrayLike<number>;
  weightShape: [number, number, number, number];
  bias: ArrayLike<number> | null;
  strides: [number, number];
  pad: [number, number];
  dilations: [number, number];
  groups: number;
  offsetGroups: number;
}

function bilinear(
  input: ArrayLike<number>,
  base: number,
  H: number,
  W: number,
  C: number,
  c: number,
  h: number,
  w: number,
): number {
  if (h <= -1 || h >= H || w <= -1 || w >= W) return 0;
  const h0 = Math.floor(h);
  const w0 = Math.floor(w);
  const lh = h - h0;
  const lw = w - w0;
  const at = (y: number, x: number) => (y >= 0 && y < H && x >= 0 && x < W ? input[base + (y * W + x) * C + c] : 0);
  return (
    (1 - lh) * (1 - lw) * at(h0, w0) +
    (1 - lh) * lw * at(h0, w0 + 1) +
    lh * (1 - lw) * at(h0 + 1, w0) +
    lh * lw * at(h0 + 1, w0 + 1)
  );
}

export function deformConv2dOracle(a: OracleArgs): { data: Float64Array; shape: [number, number, number, number] } {
  const [N, H, W, C] = a.inputShape;
  const [kh, kw, Cw, O] = a.weightShape;
  const Ho = Math.floor((H + 2 * a.pad[0] - (a.dilations[0] * (kh - 1) + 1)) / a.strides[0]) + 1;
  const Wo = Math.floor((W + 2 * a.pad[1] - (a.dilations[1] * (kw - 1) + 1)) / a.strides[1]) + 1;
  const K = kh * kw;
  const G = a.offsetGroups;
  const Og = O / a.groups;
  const out = new Float64Array(N * Ho * Wo * O);
  for (let n = 0; n < N; n++) {
    for (let ho = 0; ho < Ho; ho++) {
      for (let wo = 0; wo < Wo; wo++) {
        const pix = (n * Ho + ho) * Wo + wo;
        for (let o = 0; o < O; o++) {
          const wg = Math.floor(o / Og);
          let acc = a.bias ? a.bias[o] : 0;
          for (let i = 0; i < kh; i++) {
            for (let j = 0; j < kw; j++) {
              const k = i * kw + j;
              for (let cw = 0; cw < Cw; cw++) {
                const c = wg * Cw + cw;
                const g = Math.floor(c / (C / G));
                const dy = a.offset[pix * 2 * G * K + 2 * (g * K + k)];
                const dx = a.offset[pix * 2 * G * K + 2 * (g * K + k) + 1];
                const m = a.mask ? a.mask[pix * G * K + g * K + k] : 1;
                const h = ho * a.strides[0] - a.pad[0] + i * a.dilations[0] + dy;
                const w = wo * a.strides[1] - a.pad[1] + j * a.dilations[1] + dx;
                const v = m * bilinear(a.input, n * H * W * C, H, W, C, c, h, w);
                acc += v * a.weight[((i * kw + j) * Cw + cw) * O + o];
              }
            }
          }
          out[pix * O + o] = acc;
        }
      }
    }
  }
  return { data: out, shape: [N, Ho, Wo, O] };
}
