import type { ShapePose } from './raster';

/**
 * Dense ground-truth flow between two frames of a shapes video, from the poses the generator recorded and the
 * owner maps it rendered (per pixel, the track visible there or -1 for the static background).
 *
 * Direction: backward flow from frame `t` (the frame being reconstructed, DFF's current frame) to frame `k`
 * (its key or reference frame), as warping uses it: the surface point seen at pixel p of frame t sits at
 * p + flow(p) in frame k, so sampling frame k (or its features) at p + flow(p) reproduces frame t. Each pixel's
 * point is carried through its track's similarity transform (centre, radius, rotation) between the two poses;
 * background pixels have flow 0 (the camera is static).
 *
 * `valid` is 1 where that point is visible in frame k: p + flow(p) lies inside the image and the owner there is
 * the same track (or background for background pixels). Occluded, disoccluded and out-of-image pixels get 0.
 *
 * Pixel (x, y) is the unit square [x, x + 1) x [y, y + 1); flows are displacements, so they are the same in the
 * pixel-centre-at-integer convention of `bilinearGather({ normalized: false })`.
 */
export interface GroundTruthFlow {
  width: number;
  height: number;
  /** [H, W, 2] row-major, (dx, dy) in pixels. */
  flow: Float32Array;
  /** [H, W], 1 where the pixel's point is visible in frame k. */
  valid: Uint8Array;
}

/** A frame as the flow needs it: every track's pose (index = track id = owner value) and the owner map. */
export interface FlowFrame {
  poses: readonly ShapePose[];
  owner: Int16Array;
}

export function groundTruthFlow(frameT: FlowFrame, frameK: FlowFrame, width: number, height: number): GroundTruthFlow {
  const flow = new Float32Array(width * height * 2);
  const valid = new Uint8Array(width * height);
  // Per track, the affine map frame t -> frame k: q = cK + (rK / rT) R(aK - aT) (p - cT).
  const maps = frameT.poses.map((a, j) => {
    const b = frameK.poses[j];
    const s = b.radius / a.radius;
    const d = b.angle - a.angle;
    return { a, b, m00: s * Math.cos(d), m01: -s * Math.sin(d), m10: s * Math.sin(d), m11: s * Math.cos(d) };
  });
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      const j = frameT.owner[p];
      let dx = 0;
      let dy = 0;
      if (j >= 0) {
        const { a, b, m00, m01, m10, m11 } = maps[j];
        const px = x + 0.5 - a.cx;
        const py = y + 0.5 - a.cy;
        dx = b.cx + m00 * px + m01 * py - (x + 0.5);
        dy = b.cy + m10 * px + m11 * py - (y + 0.5);
      }
      flow[2 * p] = dx;
      flow[2 * p + 1] = dy;
      const qx = Math.floor(x + 0.5 + dx);
      const qy = Math.floor(y + 0.5 + dy);
      valid[p] = qx >= 0 && qx < width && qy >= 0 && qy < height && frameK.owner[qy * width + qx] === j ? 1 : 0;
    }
  }
  return { width, height, flow, valid };
}
