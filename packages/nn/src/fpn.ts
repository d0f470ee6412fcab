import * as tf from '@tensorflow/tfjs-core';
import { Module, Rng, argumentError } from '@deformjs/core';
import { Conv2d, ModuleList, Sequential } from './layers';

export interface FPNOptions {
  /** torchvision's LastLevelMaxPool: a 'pool' level from the last output by max-pool (kernel 1, stride 2). */
  lastLevelMaxPool?: boolean;
  seed?: number;
}

/**
 * torchvision's FeaturePyramidNetwork on NHWC maps: 1x1 lateral convs (inner_blocks.i.0), top-down pathway by
 * nearest upsampling to each lateral's size, 3x3 output convs (layer_blocks.i.0); weights kaiming_uniform
 * (a = 1), biases 0. Takes an ordered record of maps from fine to coarse and returns the same names (plus
 * 'pool' with lastLevelMaxPool), each with `outChannels` channels.
 */
export class FPN extends Module {
  readonly innerBlocks: Sequential[];
  readonly layerBlocks: Sequential[];
  readonly lastLevelMaxPool: boolean;

  constructor(
    readonly inChannels: number[],
    readonly outChannels: number,
    options: FPNOptions = {},
  ) {
    super();
    const rng = new Rng(options.seed ?? 0);
    this.lastLevelMaxPool = options.lastLevelMaxPool ?? true;
    const conv = (i: number, o: number, k: number) => {
      const c = new Conv2d(rng, i, o, k, { padding: (k - 1) / 2 });
      tf.tidy(() => {
        const bound = Math.sqrt(3 / (i * k * k));
        c.weight.assign(rng.uniformTensor(c.weight.shape, -bound, bound));
        c.bias!.assign(tf.zeros([o]));
      });
      return new Sequential(c);
    };
    const inner = this.addModule('inner_blocks', new ModuleList());
    const layer = this.addModule('layer_blocks', new ModuleList());
    this.innerBlocks = inChannels.map((c, i) => inner.add(String(i), conv(c, outChannels, 1)));
    this.layerBlocks = inChannels.map((_, i) => layer.add(String(i), conv(outChannels, outChannels, 3)));
  }

  forward(features: Record<string, tf.Tensor>): Record<string, tf.Tensor> {
    const names = Object.keys(features);
    if (names.length !== this.inChannels.length)
      throw argumentError('FPN', 'features', `${this.inChannels.length} maps`, names);
    names.forEach((n, i) => {
      if (features[n].shape[3] !== this.inChannels[i])
        throw argumentError('FPN', `features.${n}`, `${this.inChannels[i]} channels`, features[n].shape);
    });
    return tf.tidy(() => {
      const last = names.length - 1;
      let inner = this.innerBlocks[last].forward(features[names[last]]);
      const results: tf.Tensor[] = [this.layerBlocks[last].forward(inner)];
      for (let i = last - 1; i >= 0; i--) {
        const lateral = this.innerBlocks[i].forward(features[names[i]]);
        const topDown = tf.image.resizeNearestNeighbor(inner as tf.Tensor4D, [lateral.shape[1]!, lateral.shape[2]!]);
        inner = tf.add(lateral, topDown);
        results.unshift(this.layerBlocks[i].forward(inner));
      }
      const out: Record<string, tf.Tensor> = {};
      names.forEach((n, i) => (out[n] = results[i]));
      if (this.lastLevelMaxPool) out.pool = tf.maxPool(results[last] as tf.Tensor4D, 1, 2, 0);
      return out;
    });
  }
}
