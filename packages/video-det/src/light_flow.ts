import * as tf from '@tensorflow/tfjs-core';
import { assertInteger, Conv2d, Module, Rng } from '@deformjs/core';
import { DepthwiseSeparableConv, ModuleList, normKind, resizeBilinear, type NormKind } from '@deformjs/nn';
import { checkFramePair, FLOW_DIV, type FlowNetSOutput } from './flownet';

export interface LightFlowConfig {
  /** Channels of conv1; the encoder widens 1, 2, 4, 8, 8, 16, 16, 32, 32 times it (32 in the paper). */
  width: number;
  seed: number;
  /**
   * The norm of every depthwise-separable conv (@deformjs/nn's `NormKind`, default 'batch'). 'instance' keeps the
   * statistics training on one clip per step uses (the mobile design's choice, as its MobileNet's).
   */
  norm?: NormKind;
}

/** Encoder (channels as multiples of width, stride): the paper's 32/2, 64/2, 128/2, 256/2, 256, 512/2, 512, 1024/2, 1024. */
const ENCODER: ReadonlyArray<readonly [number, number]> = [
  [1, 2],
  [2, 2],
  [4, 2],
  [8, 2],
  [8, 1],
  [16, 2],
  [16, 1],
  [32, 2],
  [32, 1],
];
/** Encoder layers whose outputs the decoder concatenates, coarsest first (conv5b, conv4b, conv3, conv2). */
const SKIPS = [6, 4, 2, 1];
/** Decoder widths (multiples of width) at strides 32, 16, 8, 4: our choice, halving as the maps double. */
const DECODER = [16, 8, 4, 2];

/**
 * Light Flow (Zhu et al., "Towards High Performance Video Object Detection for Mobiles", arXiv 1804.05830): a
 * FlowNet-style encoder-decoder built only of depthwise-separable 3x3 convs with batch norm and ReLU (@deformjs/nn's
 * `DepthwiseSeparableConv`). The decoder upsamples by nearest neighbour, concatenates the encoder map of the same
 * stride and applies one depthwise-separable conv; every decoder level (strides 64 down to 4) predicts a flow with
 * a 3x3 conv, and the output flow is the average of the five predictions upsampled to stride 4 (the paper's
 * multi-resolution averaging, which replaces FlowNet's upsampled-flow inputs and deconvs).
 *
 * The same contract as `FlowNetS`: `forward(current, reference)` with H, W multiples of 64, output
 * `{ flow, features, predictions }` (backward flow at stride 4 in input pixels; the decoder's last map; the five
 * predictions finest first, divided by FLOW_DIV), so `multiScaleEpeLoss`, `warp` and DFF's scale field apply
 * unchanged.
 */
export class LightFlow extends Module {
  readonly encoder: DepthwiseSeparableConv[];
  readonly decoder: DepthwiseSeparableConv[];
  readonly predictFlows: Conv2d[];
  /** Channels of `features` (the stride-4 decoder map). */
  readonly featureChannels: number;

  constructor(readonly config: LightFlowConfig) {
    super();
    assertInteger('LightFlow', 'config.width', config.width, 1);
    const rng = new Rng(config.seed);
    const c = config.width;
    const norm = normKind('LightFlow', config.norm, 'config.norm');
    const encoder = this.addModule('encoder', new ModuleList());
    let inChannels = 6;
    this.encoder = ENCODER.map(([multiple, stride], i) => {
      const layer = encoder.add(String(i), new DepthwiseSeparableConv(rng, inChannels, multiple * c, stride, norm));
      inChannels = multiple * c;
      return layer;
    });
    const decoder = this.addModule('decoder', new ModuleList());
    this.decoder = DECODER.map((multiple, i) => {
      const skip = ENCODER[SKIPS[i]][0] * c;
      const layer = decoder.add(String(i), new DepthwiseSeparableConv(rng, inChannels + skip, multiple * c, 1, norm));
      inChannels = multiple * c;
      return layer;
    });
    // predict_flow6 reads conv6b, predict_flow5..2 the decoder levels.
    const predictIn = [ENCODER[ENCODER.length - 1][0] * c, ...DECODER.map((m) => m * c)];
    const predict = this.addModule('predict_flow', new ModuleList());
    this.predictFlows = predictIn.map((channels, i) =>
      predict.add(String(6 - i), new Conv2d(rng, channels, 2, 3, { padding: 1 })),
    );
    this.featureChannels = DECODER[DECODER.length - 1] * c;
  }

  forward(current: tf.Tensor, reference: tf.Tensor): FlowNetSOutput {
    checkFramePair('LightFlow', current, reference);
    return tf.tidy(() => {
      const encoded: tf.Tensor[] = [];
      let x: tf.Tensor = tf.concat([current, reference], 3);
      for (const layer of this.encoder) encoded.push((x = layer.forward(x)));
      const predictions: tf.Tensor4D[] = [this.predictFlows[0].forward(x) as tf.Tensor4D];
      SKIPS.forEach((skip, i) => {
        x = this.decoder[i].forward(tf.concat([upsampleNearest2x(x), encoded[skip]], 3));
        predictions.push(this.predictFlows[i + 1].forward(x) as tf.Tensor4D);
      });
      const [, h4, w4] = x.shape;
      const averaged = tf.div(tf.addN(predictions.map((p) => resizeBilinear(p, [h4, w4]))), predictions.length);
      return {
        flow: tf.mul(averaged, FLOW_DIV) as tf.Tensor4D,
        features: x as tf.Tensor4D,
        predictions: predictions.reverse(),
      };
    });
  }
}

/** x [N, h, w, C] -> [N, 2h, 2w, C], each value repeated 2 x 2: a broadcast product, whose gradient is a sum. */
function upsampleNearest2x(x: tf.Tensor): tf.Tensor {
  const [N, h, w, C] = x.shape;
  return tf.reshape(tf.mul(tf.reshape(x, [N, h, 1, w, 1, C]), tf.ones([1, 1, 2, 1, 2, 1])), [N, 2 * h, 2 * w, C]);
}
