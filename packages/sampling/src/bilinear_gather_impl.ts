/**
 * The bilinear gather as plain typed-array loops, free of tfjs: the forward pass and one backward pass that
 * produces the gradients of value, locations and weights together. The math is the multi-scale deformable
 * attention CUDA kernel's (fundamentalvision/Deformable-DETR, mmcv), generalised to pixel coordinates and to
 * keeping every sample ('none').
 *
 * Layouts (row-major): value [B, S, G, C]; shapes [L, 2] rows (H, W); starts [L]; locations
 * [B, Q, G, L, P, 2] as (x, y); weights [B, Q, G, L, P]; output [B, Q, G, C] ('sum') or [B, Q, L*P, G, C]
 * ('none').
 */

export interface GatherDims {
  B: number;
  S: number;
  G: number;
  C: number;
  Q: number;
  L: number;
  P: number;
}

/**
 * A range [first, end) of work units, unit b * G + g being image b's group g. Units write disjoint parts of every
 * output (and of the value gradient), so any split of the units among threads gives the single-thread result bit
 * for bit: each unit's sums run in the same order whoever runs it.
 */
export type UnitRange = [number, number];

export function allUnits(dims: GatherDims): UnitRange {
  return [0, dims.B * dims.G];
}

export interface GatherFlags {
  /** Locations in [0, 1] with align_corners=False (pixel = u * W - 0.5) rather than pixel coordinates. */
  normalized: boolean;
  /** 'sum' reduces over levels and points; 'none' keeps each sample. */
  reduce: 'sum' | 'none';
  /** False when there are no weights (all ones): the weights array is then not read. */
  weighted: boolean;
}

/**
 * Where one sample's four corners lie and how much each weighs. A corner outside the map gets weight 0 and the
 * index of a corner inside (there always is one when -1 < y < H and -1 < x < W), so the channel loops need no
 * branches and never read out of bounds.
 */
export class Corners {
  i00 = 0;
  i01 = 0;
  i10 = 0;
  i11 = 0;
  w00 = 0;
  w01 = 0;
  w10 = 0;
  w11 = 0;
  /** Fractional parts, for the location gradient. */
  lx = 0;
  ly = 0;
  valid00 = false;
  valid01 = false;
  valid10 = false;
  valid11 = false;
  /** The derivatives along x and y that `derivatives` computes. */
  dx = 0;
  dy = 0;

  /** Returns false when the point lies outside (-1, W) x (-1, H) and is not sampled at all. */
  locate(
    x: number,
    y: number,
    H: number,
    W: number,
    levelBase: number,
    rowStride: number,
    pixelStride: number,
  ): boolean {
    if (!(y > -1 && y < H && x > -1 && x < W)) return false;
    const y0 = Math.floor(y);
    const x0 = Math.floor(x);
    const ly = y - y0;
    const lx = x - x0;
    const hy = 1 - ly;
    const hx = 1 - lx;
    this.ly = ly;
    this.lx = lx;
    const top = y0 >= 0;
    const bottom = y0 < H - 1;
    const left = x0 >= 0;
    const right = x0 < W - 1;
    this.valid00 = top && left;
    this.valid01 = top && right;
    this.valid10 = bottom && left;
    this.valid11 = bottom && right;
    const i00 = levelBase + y0 * rowStride + x0 * pixelStride;
    let a = i00;
    let b = i00 + pixelStride;
    let c = i00 + rowStride;
    let d = c + pixelStride;
    let w00 = hy * hx;
    let w01 = hy * lx;
    let w10 = ly * hx;
    let w11 = ly * lx;
    if (!top) {
      w00 = 0;
      w01 = 0;
      a = c;
      b = d;
    }
    if (!bottom) {
      w10 = 0;
      w11 = 0;
      c = a;
      d = b;
    }
    if (!left) {
      w00 = 0;
      w10 = 0;
      a = b;
      c = d;
    }
    if (!right) {
      w01 = 0;
      w11 = 0;
      b = a;
      d = c;
    }
    this.i00 = a;
    this.i01 = b;
    this.i10 = c;
    this.i11 = d;
    this.w00 = w00;
    this.w01 = w01;
    this.w10 = w10;
    this.w11 = w11;
    return true;
  }

  /**
   * From the products of one gradient with each corner's value (d00..d11), the derivatives of the interpolated
   * value along x and y at the located point, into `dx` and `dy`. Corners outside the map are zero padding:
   * they read as 0, whatever value their clamped index holds.
   */
  derivatives(d00: number, d01: number, d10: number, d11: number): void {
    if (!this.valid00) d00 = 0;
    if (!this.valid01) d01 = 0;
    if (!this.valid10) d10 = 0;
    if (!this.valid11) d11 = 0;
    const { lx, ly } = this;
    this.dx = (1 - ly) * (d01 - d00) + ly * (d11 - d10);
    this.dy = (1 - lx) * (d10 - d00) + lx * (d11 - d01);
  }
}

export function bilinearGatherForwardImpl(
  value: Float32Array,
  shapes: Int32Array,
  starts: Int32Array,
  locations: Float32Array,
  weights: Float32Array,
  out: Float32Array,
  dims: GatherDims,
  flags: GatherFlags,
  units: UnitRange = allUnits(dims),
): void {
  const { S, G, C, Q, L, P } = dims;
  const { normalized, weighted } = flags;
  const sum = flags.reduce === 'sum';
  const GC = G * C;
  const LP = L * P;
  const corners = new Corners();
  // Queries innermost but one: all samples of one (group, level) run together, so the part of value (and of
  // its gradient) they touch stays in cache.
  for (let unit = units[0]; unit < units[1]; unit++) {
    const b = Math.floor(unit / G);
    const g = unit % G;
    for (let l = 0; l < L; l++) {
      const H = shapes[2 * l];
      const W = shapes[2 * l + 1];
      const levelBase = (b * S + starts[l]) * GC + g * C;
      const rowStride = W * GC;
      for (let q = 0; q < Q; q++) {
        const bqg = (b * Q + q) * G + g;
        const sampleBase = bqg * LP + l * P;
        for (let p = 0; p < P; p++) {
          const s = sampleBase + p;
          const a = weighted ? weights[s] : 1;
          let x = locations[2 * s];
          let y = locations[2 * s + 1];
          if (normalized) {
            x = x * W - 0.5;
            y = y * H - 0.5;
          }
          if (!corners.locate(x, y, H, W, levelBase, rowStride, GC)) continue;
          const { i00, i01, i10, i11 } = corners;
          const w00 = corners.w00 * a;
          const w01 = corners.w01 * a;
          const w10 = corners.w10 * a;
          const w11 = corners.w11 * a;
          const o = sum ? bqg * C : (((b * Q + q) * LP + l * P + p) * G + g) * C;
          // Four channels per step: fewer loop checks, and the loads of one step are independent.
          let c = 0;
          for (; c + 4 <= C; c += 4) {
            const v0 = w00 * value[i00 + c] + w01 * value[i01 + c] + w10 * value[i10 + c] + w11 * value[i11 + c];
            const v1 =
              w00 * value[i00 + c + 1] + w01 * value[i01 + c + 1] + w10 * value[i10 + c + 1] + w11 * value[i11 + c + 1];
            const v2 =
              w00 * value[i00 + c + 2] + w01 * value[i01 + c + 2] + w10 * value[i10 + c + 2] + w11 * value[i11 + c + 2];
            const v3 =
              w00 * value[i00 + c + 3] + w01 * value[i01 + c + 3] + w10 * value[i10 + c + 3] + w11 * value[i11 + c + 3];
            out[o + c] += v0;
            out[o + c + 1] += v1;
            out[o + c + 2] += v2;
            out[o + c + 3] += v3;
          }
          for (; c < C; c++) {
            out[o + c] += w00 * value[i00 + c] + w01 * value[i01 + c] + w10 * value[i10 + c] + w11 * value[i11 + c];
          }
        }
      }
    }
  }
}

/**
 * Accumulates into gradValue (zero on entry) and writes gradLocations and gradWeights. `gradOut` has the
 * forward output's layout. With `weighted` false, gradWeights is left untouched.
 */
export function bilinearGatherBackwardImpl(
  value: Float32Array,
  shapes: Int32Array,
  starts: Int32Array,
  locations: Float32Array,
  weights: Float32Array,
  gradOut: Float32Array,
  gradValue: Float32Array,
  gradLocations: Float32Array,
  gradWeights: Float32Array,
  dims: GatherDims,
  flags: GatherFlags,
  units: UnitRange = allUnits(dims),
): void {
  const { S, G, C, Q, L, P } = dims;
  const { normalized, weighted } = flags;
  const sum = flags.reduce === 'sum';
  const GC = G * C;
  const LP = L * P;
  const corners = new Corners();
  // Queries innermost but one: all samples of one (group, level) run together, so the part of value (and of
  // its gradient) they touch stays in cache.
  for (let unit = units[0]; unit < units[1]; unit++) {
    const b = Math.floor(unit / G);
    const g = unit % G;
    for (let l = 0; l < L; l++) {
      const H = shapes[2 * l];
      const W = shapes[2 * l + 1];
      const levelBase = (b * S + starts[l]) * GC + g * C;
      const rowStride = W * GC;
      for (let q = 0; q < Q; q++) {
        const bqg = (b * Q + q) * G + g;
        const sampleBase = bqg * LP + l * P;
        for (let p = 0; p < P; p++) {
          const s = sampleBase + p;
          const a = weighted ? weights[s] : 1;
          let x = locations[2 * s];
          let y = locations[2 * s + 1];
          if (normalized) {
            x = x * W - 0.5;
            y = y * H - 0.5;
          }
          if (!corners.locate(x, y, H, W, levelBase, rowStride, GC)) continue;
          const { i00, i01, i10, i11 } = corners;
          const o = sum ? bqg * C : (((b * Q + q) * LP + l * P + p) * G + g) * C;
          // Dot products of the output gradient with each corner's channels, then scatter a * w * g.
          let d00 = 0;
          let d01 = 0;
          let d10 = 0;
          let d11 = 0;
          const s00 = corners.w00 * a;
          const s01 = corners.w01 * a;
          const s10 = corners.w10 * a;
          const s11 = corners.w11 * a;
          for (let c = 0; c < C; c++) {
            const go = gradOut[o + c];
            d00 += go * value[i00 + c];
            d01 += go * value[i01 + c];
            d10 += go * value[i10 + c];
            d11 += go * value[i11 + c];
            gradValue[i00 + c] += s00 * go;
            gradValue[i01 + c] += s01 * go;
            gradValue[i10 + c] += s10 * go;
            gradValue[i11 + c] += s11 * go;
          }
          // The corner weights are 0 outside the map, so the weight gradient reads those corners as 0 too.
          if (weighted) gradWeights[s] = corners.w00 * d00 + corners.w01 * d01 + corners.w10 * d10 + corners.w11 * d11;
          corners.derivatives(d00, d01, d10, d11);
          let gx = a * corners.dx;
          let gy = a * corners.dy;
          if (normalized) {
            gx *= W;
            gy *= H;
          }
          gradLocations[2 * s] = gx;
          gradLocations[2 * s + 1] = gy;
        }
      }
    }
  }
}
