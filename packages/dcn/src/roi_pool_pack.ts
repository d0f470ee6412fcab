import * as tf from '@tensorflow/tfjs-core';
import { Linear, Module, argumentError, assertInteger, checkShapes, pair } from '@deformjs/core';
import type { Rng } from '@deformjs/core';
import { deformRoIPool } from './deform_roi_pool';

/** nn.Sequential of Linear and ReLU, children named by position ('0', '2', ...) as in a PyTorch state_dict. */
class LinearStack extends Module {
  private readonly layers: Linear[] = [];

  /** `sizes` [in, hidden..., out]: a ReLU between consecutive Linears; the last Linear zero-initialised. */
  constructor(rng: Rng, sizes: number[]) {
    super();
    for (let i = 0; i + 1 < sizes.length; i++) {
      const [inFeatures, outFeatures] = [sizes[i], sizes[i + 1]];
      const zeroInit = i + 2 === sizes.length;
      const init = zeroInit
        ? { weight: tf.zeros([inFeatures, outFeatures]), bias: tf.zeros([outFeatures]) }
        : undefined;
      this.layers.push(this.addModule(String(2 * i), new Linear(rng, inFeatures, outFeatures, { init })));
    }
  }

  forward(x: tf.Tensor2D): tf.Tensor2D {
    return this.layers.reduce<tf.Tensor>((h, layer, i) => layer.forward(i === 0 ? h : tf.relu(h)), x) as tf.Tensor2D;
  }
}

export interface ModulatedDeformRoIPoolPackOptions {
  outputSize?: number | [number, number];
  /** Channels C of the pooled feature map. */
  outputChannels: number;
  spatialScale?: number;
  samplingRatio?: number;
  gamma?: number;
  /** Width of the offset and mask branches' hidden layers (mmcv's deform_fc_channels). */
  deformFcChannels?: number;
}

/**
 * mmcv's ModulatedDeformRoIPoolPack, NHWC: pool each RoI plainly, predict per-bin offsets with `offset_fc`
 * (Linear(ph*pw*C, 1024)-ReLU-Linear(1024, 1024)-ReLU-Linear(1024, ph*pw*2), the last zero-initialised) and
 * masks with `mask_fc` (Linear(ph*pw*C, 1024)-ReLU-Linear(1024, ph*pw), zero-initialised, then sigmoid), pool
 * again with the offsets and multiply by the mask. State_dict keys and layouts are mmcv's (offset_fc.0.weight,
 * ..., mask_fc.2.bias); the pooled features are flattened in PyTorch's (C, ph, pw) order so its weights load
 * unchanged. At initialisation the offsets are 0 and the mask 0.5.
 */
export class ModulatedDeformRoIPoolPack extends Module {
  readonly offsetFc: LinearStack;
  readonly maskFc: LinearStack;
  private readonly outputSize: [number, number];
  private readonly outputChannels: number;
  private readonly pool: { spatialScale: number; samplingRatio: number; gamma: number };

  constructor(rng: Rng, options: ModulatedDeformRoIPoolPackOptions) {
    super();
    const layer = 'ModulatedDeformRoIPoolPack';
    this.outputSize = pair(layer, 'outputSize', options.outputSize ?? 7);
    this.outputChannels = assertInteger(layer, 'outputChannels', options.outputChannels, 1);
    const hidden = assertInteger(layer, 'deformFcChannels', options.deformFcChannels ?? 1024, 1);
    this.pool = {
      spatialScale: options.spatialScale ?? 1,
      samplingRatio: options.samplingRatio ?? 0,
      gamma: options.gamma ?? 0.1,
    };
    const bins = this.outputSize[0] * this.outputSize[1];
    const features = bins * this.outputChannels;
    this.offsetFc = this.addModule('offset_fc', new LinearStack(rng, [features, hidden, hidden, bins * 2]));
    this.maskFc = this.addModule('mask_fc', new LinearStack(rng, [features, hidden, bins]));
  }

  /** input [N, H, W, C], rois [R, 5] (batch index, x1, y1, x2, y2) -> [R, ph, pw, C]. */
  forward(input: tf.Tensor4D, rois: tf.Tensor2D): tf.Tensor4D {
    if (!(input instanceof tf.Tensor)) throw argumentError('ModulatedDeformRoIPoolPack', 'input', 'a tensor', input);
    checkShapes('ModulatedDeformRoIPoolPack', [
      { name: 'input', shape: input.shape, expected: ['N', 'H', 'W', this.outputChannels] },
    ]);
    const [ph, pw] = this.outputSize;
    return tf.tidy(() => {
      const plain = deformRoIPool(input, rois, { ...this.pool, outputSize: this.outputSize });
      const R = plain.shape[0];
      const flat = tf.reshape(tf.transpose(plain, [0, 3, 1, 2]), [R, this.outputChannels * ph * pw]) as tf.Tensor2D;
      const offset = tf.transpose(tf.reshape(this.offsetFc.forward(flat), [R, 2, ph, pw]), [0, 2, 3, 1]);
      const mask = tf.reshape(tf.sigmoid(this.maskFc.forward(flat)), [R, ph, pw, 1]);
      return deformRoIPool(input, rois, { ...this.pool, outputSize: this.outputSize, offset, mask });
    });
  }
}
