// The DCNv2 paper's sampling-point figure, interactive: where two stacked modulated deformable 3x3 conv layers read
// the image for one output position (9 points of the top layer, 81 of the bottom one). The layers are seeded and
// untrained: their offset branches start from random weights instead of upstream's zeros so the offsets (which
// follow the image's colours and edges) are visible. It shows the mechanism on the image, not learned offsets.
import * as tf from '@tensorflow/tfjs-core';
import { Rng, convGeometry, convTapGrid } from '@deformjs/core';
import { ModulatedDeformConv2d } from '@deformjs/dcn';

/** Bottom to top: 3x3 kernels, padding = dilation so each map keeps the image's size. */
const LAYERS = [
  { inChannels: 3, outChannels: 8, dilation: 4, offsetStd: 0.8 },
  { inChannels: 8, outChannels: 8, dilation: 8, offsetStd: 0.8 },
];
const KERNEL = 3;

export interface SamplingPoint {
  x: number;
  y: number;
  /** The product of the modulation scalars along the path (DCNv2's mask), in (0, 1). */
  modulation: number;
}

/** One layer's offsets and masks over a map, on the host. */
interface LayerSampling {
  width: number;
  height: number;
  /** [H*W, 9, 2] undeformed tap positions (x, y). */
  grid: Float32Array;
  /** [H*W, 9, 2] (dy, dx). */
  offset: Float32Array;
  /** [H*W, 9]. */
  mask: Float32Array;
}

export class SamplingPointsView {
  readonly layers: ModulatedDeformConv2d[];
  private sampling: LayerSampling[] = [];

  constructor(seed = 0) {
    const rng = new Rng(seed);
    this.layers = LAYERS.map(({ inChannels, outChannels, dilation, offsetStd }) => {
      const layer = new ModulatedDeformConv2d(rng, inChannels, outChannels, KERNEL, { padding: dilation, dilation });
      tf.tidy(() => layer.convOffset.weight.assign(rng.normalTensor(layer.convOffset.weight.shape, 0, offsetStd)));
      return layer;
    });
  }

  /** Runs the layers over `image` [1, H, W, 3] (the model's normalised input) and keeps their offsets and masks. */
  setImage(image: tf.Tensor4D): void {
    const [, height, width] = image.shape;
    this.sampling = tf.tidy(() => {
      let x: tf.Tensor4D = image;
      return this.layers.map((layer, l) => {
        const { offset, mask } = layer.offsetAndMask(x);
        const { dilation, outChannels } = LAYERS[l];
        const geometry = convGeometry(
          'SamplingPointsView',
          x.shape,
          { kernel: [KERNEL, KERNEL], outChannels, arg: 'image' },
          { stride: [1, 1], padding: [dilation, dilation], dilation: [dilation, dilation] },
        );
        const result = {
          width,
          height,
          grid: convTapGrid(geometry),
          offset: offset.dataSync() as Float32Array,
          mask: mask.dataSync() as Float32Array,
        };
        x = tf.relu(layer.forward(x));
        return result;
      });
    });
  }

  /**
   * The sampling points of output position (x, y) (pixels of the image given to `setImage`), per layer from the
   * top: the top layer's 9, then the 81 of the layer below, each taken at the nearest position of its map.
   */
  points(x: number, y: number): SamplingPoint[][] {
    if (this.sampling.length === 0) throw new Error('SamplingPointsView.points: call setImage(image) first');
    let current: SamplingPoint[] = [{ x, y, modulation: 1 }];
    const levels: SamplingPoint[][] = [];
    for (const { width, height, grid, offset, mask } of [...this.sampling].reverse()) {
      const taps = KERNEL * KERNEL;
      current = current.flatMap((p) => {
        const q = clamp(Math.round(p.y), height) * width + clamp(Math.round(p.x), width);
        return Array.from({ length: taps }, (_, k) => ({
          x: grid[(q * taps + k) * 2] + offset[(q * taps + k) * 2 + 1],
          y: grid[(q * taps + k) * 2 + 1] + offset[(q * taps + k) * 2],
          modulation: p.modulation * mask[q * taps + k],
        }));
      });
      levels.push(current);
    }
    return levels;
  }

  dispose(): void {
    for (const layer of this.layers) layer.dispose();
  }
}

function clamp(v: number, size: number): number {
  return Math.min(size - 1, Math.max(0, v));
}
