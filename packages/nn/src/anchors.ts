import { argumentError } from '@deformjs/core';

/**
 * torchvision's AnchorGenerator: per feature level, `sizes[l].length x aspectRatios[l].length` base anchors
 * (w = size / sqrt(ratio), h = size * sqrt(ratio), centred on 0 and rounded half-to-even as torch.round),
 * shifted to every cell at the level's stride (image size // feature size). Anchors are xyxy, ordered
 * level by level, then row-major over cells, then ratio-major over (ratio, size) pairs, as torchvision.
 */
export class AnchorGenerator {
  readonly cellAnchors: Float32Array[];

  constructor(
    readonly sizes: number[][],
    readonly aspectRatios: number[][],
  ) {
    if (sizes.length !== aspectRatios.length)
      throw argumentError('AnchorGenerator', 'aspectRatios', `one list per level (${sizes.length})`, aspectRatios);
    this.cellAnchors = sizes.map((levelSizes, l) => {
      const out: number[] = [];
      for (const ratio of aspectRatios[l]) {
        const hRatio = Math.fround(Math.sqrt(ratio));
        const wRatio = Math.fround(1 / hRatio);
        for (const size of levelSizes) {
          const ws = Math.fround(wRatio * size);
          const hs = Math.fround(hRatio * size);
          out.push(...[-ws, -hs, ws, hs].map((v) => roundHalfEven(Math.fround(v / 2))));
        }
      }
      return Float32Array.from(out);
    });
  }

  /** Anchors per cell at each level. */
  numAnchorsPerLocation(): number[] {
    return this.cellAnchors.map((a) => a.length / 4);
  }

  /** All anchors [sum_l h_l * w_l * A_l, 4] for an image of `imageSize` [H, W] with the given feature sizes [h, w]. */
  generate(imageSize: [number, number], featureSizes: Array<[number, number]>): Float32Array {
    if (featureSizes.length !== this.cellAnchors.length) {
      throw argumentError(
        'AnchorGenerator.generate',
        'featureSizes',
        `${this.cellAnchors.length} levels`,
        featureSizes,
      );
    }
    const total = featureSizes.reduce((n, [h, w], l) => n + h * w * this.cellAnchors[l].length, 0);
    const out = new Float32Array(total);
    let at = 0;
    featureSizes.forEach(([h, w], l) => {
      const strideY = Math.floor(imageSize[0] / h);
      const strideX = Math.floor(imageSize[1] / w);
      const base = this.cellAnchors[l];
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const sx = x * strideX;
          const sy = y * strideY;
          for (let k = 0; k < base.length; k += 4) {
            out[at++] = sx + base[k];
            out[at++] = sy + base[k + 1];
            out[at++] = sx + base[k + 2];
            out[at++] = sy + base[k + 3];
          }
        }
      }
    });
    return out;
  }
}

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
