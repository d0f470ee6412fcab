/**
 * The floor under the square root that inverts x(t). The root reaches 0 only where a control point's x
 * coincides with its piece's start (at x = start) or end (at x = end), where the curve has a vertical tangent;
 * the floor keeps the gradient finite there and moves g by at most about 1e-6.
 */
export const ROOT_FLOOR = 1e-12;

/**
 * g and g' elementwise for a piecewise quadratic Bezier curve given as its full point list
 * [x0, y0, x1, y1, ..., x2n, y2n] (P0 = (0, 0), P2n = (1, 1)); the same arithmetic as the composed `bezier`
 * (see there), evaluated in float64. A piece contributes its derivative where x lies in [start, end],
 * ends included, as the composed version's clip does. Plain array code, no tfjs.
 */
export function bezierForward(
  x: Float32Array | Int32Array,
  y: Float32Array | Int32Array,
  slope: Float32Array | Int32Array,
  points: readonly number[],
  rootFloor: number,
): void {
  for (let p = 0; p + 4 < points.length; p += 4) {
    const xs = points[p];
    const ys = points[p + 1];
    const width = points[p + 4] - xs;
    if (width <= 0) continue;
    const c = (points[p + 2] - xs) / width;
    const linear = 2 * (points[p + 3] - ys);
    const quadratic = ys - 2 * points[p + 3] + points[p + 5];
    const lowControl = c < 0.5;
    for (let i = 0; i < x.length; i++) {
      const raw = (x[i] - xs) / width;
      const u = raw < 0 ? 0 : raw > 1 ? 1 : raw;
      const radicand = lowControl ? c * c + (1 - 2 * c) * u : (1 - c) * (1 - c) + (2 * c - 1) * (1 - u);
      const floored = radicand < rootFloor;
      const root = Math.sqrt(floored ? rootFloor : radicand);
      const denominator = c + root;
      const t = u / denominator;
      y[i] += t * (linear + t * quadratic);
      if (raw >= 0 && raw <= 1) {
        const dRoot = floored ? 0 : (1 - 2 * c) / (2 * root);
        const dt = 1 / denominator - (u * dRoot) / (denominator * denominator);
        slope[i] += ((linear + 2 * t * quadratic) * dt) / width;
      }
    }
  }
}
