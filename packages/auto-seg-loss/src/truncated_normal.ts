/**
 * The normal distribution truncated to [0, 1], per parameter, as the official search samples it (inverse
 * CDF, then clamped into the interval) and scores it (log density with the truncation's normaliser).
 * Plain numbers: the search has at most a few dozen parameters.
 */

const SQRT2 = Math.SQRT2;
const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);

/**
 * erfc to about 1e-13: the Taylor series of erf below |x| = 3, Laplace's continued fraction above. (The
 * search's arguments stay within |x| < 4 for std 0.2.)
 */
function erfc(x: number): number {
  const z = Math.abs(x);
  let r: number;
  if (z < 3) {
    let term = z;
    let sum = z;
    for (let n = 1; n < 100 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
      term *= (-z * z) / n;
      sum += term / (2 * n + 1);
    }
    r = 1 - (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    let fraction = z;
    for (let n = 60; n >= 1; n--) fraction = z + n / 2 / fraction;
    r = Math.exp(-z * z) / (Math.sqrt(Math.PI) * fraction);
  }
  return x >= 0 ? r : 2 - r;
}

export function normalCdf(x: number): number {
  return 0.5 * erfc(-x / SQRT2);
}

export function normalPdf(x: number): number {
  return Math.exp(-0.5 * x * x - LOG_SQRT_2PI);
}

/** The standard normal quantile: Acklam's rational approximation refined by one Halley step. */
export function normalQuantile(p: number): number {
  if (p <= 0) return -Infinity;
  if (p >= 1) return Infinity;
  const a = [
    -3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1,
    2.506628277459239,
  ];
  const b = [
    -5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1,
  ];
  const c = [
    -7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  let x: number;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    x =
      (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
      ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p <= 1 - low) {
    const q = p - 0.5;
    const r = q * q;
    x =
      ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) /
      (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  } else {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    x =
      -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
      ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  const e = normalCdf(x) - p;
  const u = e * Math.sqrt(2 * Math.PI) * Math.exp((x * x) / 2);
  return x - u / (1 + (x * u) / 2);
}

/** A sample of N(mean, std) truncated to [0, 1] from a uniform draw `u` in [0, 1). */
export function sampleTruncatedNormal(mean: number, std: number, u: number): number {
  const lo = normalCdf(-mean / std);
  const hi = normalCdf((1 - mean) / std);
  const x = mean + std * normalQuantile(lo + u * (hi - lo));
  return Math.min(1, Math.max(0, x));
}

/** log density of N(mean, std) truncated to [0, 1] at x, and its derivative with respect to the mean. */
export function truncatedNormalLogProb(x: number, mean: number, std: number): { logProb: number; dMean: number } {
  const alpha = -mean / std;
  const beta = (1 - mean) / std;
  const z = (x - mean) / std;
  const mass = normalCdf(beta) - normalCdf(alpha);
  const logProb = -Math.log(std) - 0.5 * z * z - LOG_SQRT_2PI - Math.log(mass);
  const dMean = z / std - (normalPdf(alpha) - normalPdf(beta)) / (std * mass);
  return { logProb, dMean };
}
