/**
 * The local variant of Deformable Kernels (deformKernelDepthwise) as one pass of typed-array loops, free of
 * tfjs: each output position resamples its k x k kernel from the scope kernel (bilinearly, with the sampling
 * core's corner arithmetic) and applies it depthwise to the input, with no per-position kernel or column tensor
 * in between. The backward pass gives the gradients of input, weight and deltas together. The math is the
 * composed path's (resampling.ts: two reads through the sampling core and a product summed over taps), which the
 * tests hold it to.
 *
 * Layouts (row-major): input [N, H, W, C]; weight [scopeH, scopeW, C] (its trailing 1 dropped); deltas
 * [N, Ho, Wo, R*K*2] with (dh, dw) of group g and tap t at g*K*2 + 2t; output [N, Ho, Wo, C]. Channel c uses
 * rotation group c % R.
 */
import { Corners } from '@deformjs/sampling';

export interface LocalDims {
  N: number;
  H: number;
  W: number;
  C: number;
  Ho: number;
  Wo: number;
  scopeH: number;
  scopeW: number;
  kh: number;
  kw: number;
  strideH: number;
  strideW: number;
  padH: number;
  padW: number;
  dilationH: number;
  dilationW: number;
  /** Rotation groups R. */
  groups: number;
}

/**
 * Walks every (output position, tap, rotation group) whose input pixel lies inside the image and whose
 * resampled kernel position lies inside the scope, with the corners of that position located; `visit` does the
 * channel loop. Written once for the forward and backward passes.
 */
function forEachTap(
  d: LocalDims,
  deltas: Float32Array,
  corners: Corners,
  visit: (outBase: number, inBase: number, deltaIndex: number, group: number) => void,
): void {
  const { N, H, W, C, Ho, Wo, scopeH, scopeW, kh, kw, groups } = d;
  const K = kh * kw;
  const centreY = (scopeH - kh) / 2;
  const centreX = (scopeW - kw) / 2;
  for (let n = 0; n < N; n++) {
    for (let ho = 0; ho < Ho; ho++) {
      for (let wo = 0; wo < Wo; wo++) {
        const position = (n * Ho + ho) * Wo + wo;
        const outBase = position * C;
        for (let i = 0; i < kh; i++) {
          const h = ho * d.strideH - d.padH + i * d.dilationH;
          if (h < 0 || h >= H) continue;
          for (let j = 0; j < kw; j++) {
            const w = wo * d.strideW - d.padW + j * d.dilationW;
            if (w < 0 || w >= W) continue;
            const inBase = ((n * H + h) * W + w) * C;
            const t = i * kw + j;
            for (let g = 0; g < groups; g++) {
              const deltaIndex = (position * groups + g) * K * 2 + 2 * t;
              const y = i + centreY + deltas[deltaIndex];
              const x = j + centreX + deltas[deltaIndex + 1];
              if (!corners.locate(x, y, scopeH, scopeW, 0, scopeW * C, C)) continue;
              visit(outBase, inBase, deltaIndex, g);
            }
          }
        }
      }
    }
  }
}

export function localDeformKernelForwardImpl(
  input: Float32Array,
  weight: Float32Array,
  deltas: Float32Array,
  out: Float32Array,
  d: LocalDims,
): void {
  const { C, groups } = d;
  const corners = new Corners();
  forEachTap(d, deltas, corners, (outBase, inBase, _deltaIndex, g) => {
    const { i00, i01, i10, i11, w00, w01, w10, w11 } = corners;
    for (let c = g; c < C; c += groups) {
      const kernel = w00 * weight[i00 + c] + w01 * weight[i01 + c] + w10 * weight[i10 + c] + w11 * weight[i11 + c];
      out[outBase + c] += input[inBase + c] * kernel;
    }
  });
}

/**
 * Accumulates into gradInput, gradWeight and gradDeltas (zero on entry); `gradOut` has the output's layout.
 */
export function localDeformKernelBackwardImpl(
  input: Float32Array,
  weight: Float32Array,
  deltas: Float32Array,
  gradOut: Float32Array,
  gradInput: Float32Array,
  gradWeight: Float32Array,
  gradDeltas: Float32Array,
  d: LocalDims,
): void {
  const { C, groups } = d;
  const corners = new Corners();
  forEachTap(d, deltas, corners, (outBase, inBase, deltaIndex, g) => {
    const { i00, i01, i10, i11, w00, w01, w10, w11 } = corners;
    // Dot products of (output gradient x input) with each corner's weights, for the position gradient.
    let d00 = 0;
    let d01 = 0;
    let d10 = 0;
    let d11 = 0;
    for (let c = g; c < C; c += groups) {
      const go = gradOut[outBase + c];
      const x = input[inBase + c];
      const v00 = weight[i00 + c];
      const v01 = weight[i01 + c];
      const v10 = weight[i10 + c];
      const v11 = weight[i11 + c];
      gradInput[inBase + c] += go * (w00 * v00 + w01 * v01 + w10 * v10 + w11 * v11);
      const gx = go * x;
      d00 += gx * v00;
      d01 += gx * v01;
      d10 += gx * v10;
      d11 += gx * v11;
      gradWeight[i00 + c] += w00 * gx;
      gradWeight[i01 + c] += w01 * gx;
      gradWeight[i10 + c] += w10 * gx;
      gradWeight[i11 + c] += w11 * gx;
    }
    // Deltas are (dh, dw): the kernel position's y, then x.
    corners.derivatives(d00, d01, d10, d11);
    gradDeltas[deltaIndex] += corners.dy;
    gradDeltas[deltaIndex + 1] += corners.dx;
  });
}
