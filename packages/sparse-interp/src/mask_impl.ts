/**
 * The evaluation sampler in one pass: p = sigmoid(logit); the Gumbel-sigmoid at temperature T with uniform
 * noise `noise` (the first N*H*W values for the keep logit, the rest for the drop logit); the grid prior
 * (h and w multiples of `interval` forced to 1); the rule m * (m >= 0.5). logits, soft, mask [N, H, W].
 */
export function sampleEvalMaskImpl(
  logits: Float32Array,
  noise: Float32Array,
  soft: Float32Array,
  mask: Float32Array,
  H: number,
  W: number,
  interval: number,
  temperature: number,
): void {
  const eps = 1e-8;
  const size = logits.length;
  const gumbel = (u: number) => -Math.log(-Math.log(u + eps) + eps);
  for (let i = 0; i < size; i++) {
    const p = Math.fround(1 / (1 + Math.exp(-logits[i])));
    soft[i] = p;
    const r = i % (H * W);
    const h = (r / W) | 0;
    const w = r - h * W;
    if (h % interval === 0 && w % interval === 0) {
      mask[i] = 1;
      continue;
    }
    const keep = Math.log(p + eps) + gumbel(noise[i]);
    const drop = Math.log(1 - p + eps) + gumbel(noise[size + i]);
    const m = 1 / (1 + Math.exp(-(keep - drop) / (temperature + eps)));
    mask[i] = m >= 0.5 ? m : 0;
  }
}
