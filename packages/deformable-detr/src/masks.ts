/**
 * The padding-mask geometry of a batch, in plain arrays: masks are not differentiated, and the official code
 * computes these quantities in float64 too. Masks are Uint8Array [N, H, W], 1 at padding (DETR's `mask`).
 */

/** F.interpolate(mask[None].float(), size=(h, w)).bool(): nearest neighbour, source index floor(dst * in / out). */
export function resizeMaskNearest(
  mask: Uint8Array,
  n: number,
  height: number,
  width: number,
  h: number,
  w: number,
): Uint8Array {
  const out = new Uint8Array(n * h * w);
  const sy = height / h;
  const sx = width / w;
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < h; y++) {
      const iy = Math.min(Math.floor(y * sy), height - 1);
      for (let x = 0; x < w; x++) {
        const ix = Math.min(Math.floor(x * sx), width - 1);
        out[(b * h + y) * w + x] = mask[(b * height + iy) * width + ix];
      }
    }
  }
  return out;
}

/** get_valid_ratio: (valid width / W, valid height / H) from the first column and row of each level's mask. */
export function validRatios(levelMasks: Uint8Array[], shapes: [number, number][], n: number): Float64Array {
  const L = shapes.length;
  const out = new Float64Array(n * L * 2);
  levelMasks.forEach((mask, l) => {
    const [h, w] = shapes[l];
    for (let b = 0; b < n; b++) {
      let validH = 0;
      let validW = 0;
      for (let y = 0; y < h; y++) validH += mask[(b * h + y) * w] ? 0 : 1;
      for (let x = 0; x < w; x++) validW += mask[b * h * w + x] ? 0 : 1;
      out[(b * L + l) * 2] = validW / w;
      out[(b * L + l) * 2 + 1] = validH / h;
    }
  });
  return out;
}

/**
 * The encoder's reference points [N, S, L, 2]: each pixel centre normalised by its level's valid size, then
 * scaled by every level's valid ratio (DeformableTransformerEncoder.get_reference_points).
 */
export function encoderReferencePoints(shapes: [number, number][], ratios: Float64Array, n: number): Float32Array {
  const L = shapes.length;
  const S = shapes.reduce((s, [h, w]) => s + h * w, 0);
  const out = new Float32Array(n * S * L * 2);
  for (let b = 0; b < n; b++) {
    let s = 0;
    shapes.forEach(([h, w], lvl) => {
      const rx = ratios[(b * L + lvl) * 2];
      const ry = ratios[(b * L + lvl) * 2 + 1];
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++, s++) {
          const px = (x + 0.5) / (rx * w);
          const py = (y + 0.5) / (ry * h);
          for (let l = 0; l < L; l++) {
            const o = ((b * S + s) * L + l) * 2;
            out[o] = px * ratios[(b * L + l) * 2];
            out[o + 1] = py * ratios[(b * L + l) * 2 + 1];
          }
        }
      }
    });
  }
  return out;
}

/**
 * gen_encoder_output_proposals' anchors: for every position a box centred on the pixel (normalised by the
 * valid size) with side 0.05 * 2^level, as logits; `invalid` marks padding and anchors not inside
 * (0.01, 0.99), whose logits are +Infinity and whose memory is zeroed.
 */
export function encoderProposals(
  levelMasks: Uint8Array[],
  shapes: [number, number][],
  n: number,
): { logits: Float32Array; invalid: Uint8Array } {
  const S = shapes.reduce((s, [h, w]) => s + h * w, 0);
  const logits = new Float32Array(n * S * 4);
  const invalid = new Uint8Array(n * S);
  const logit = (p: number) => Math.log(p / (1 - p));
  for (let b = 0; b < n; b++) {
    let s = 0;
    shapes.forEach(([h, w], lvl) => {
      const mask = levelMasks[lvl];
      let validH = 0;
      let validW = 0;
      for (let y = 0; y < h; y++) validH += mask[(b * h + y) * w] ? 0 : 1;
      for (let x = 0; x < w; x++) validW += mask[b * h * w + x] ? 0 : 1;
      const side = 0.05 * 2 ** lvl;
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++, s++) {
          const box = [(x + 0.5) / validW, (y + 0.5) / validH, side, side];
          const inside = box.every((v) => v > 0.01 && v < 0.99);
          const bad = mask[(b * h + y) * w + x] === 1 || !inside;
          invalid[b * S + s] = bad ? 1 : 0;
          for (let k = 0; k < 4; k++) logits[(b * S + s) * 4 + k] = bad ? Infinity : logit(box[k]);
        }
      }
    });
  }
  return { logits, invalid };
}
