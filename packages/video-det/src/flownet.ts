import * as tf from '@tensorflow/tfjs-core';
import { argumentError, assertInteger, checkShapes, Conv2d, Module, Rng } from '@deformjs/core';
import { ConvTranspose2d } from '@deformjs/nn';

/** FlowNet predicts flow divided by 20 (FlowNet's `div_flow`), so its outputs stay near unit scale. */
export const FLOW_DIV = 20;

/** The coarsest stride of the encoder (conv6): inputs must divide by it. */
export const FLOWNET_STRIDE = 64;

export interface FlowNetSConfig {
  /** Channels of conv1; the encoder widens 1, 2, 4, 4, 8, 8, 8, 8, 16, 16 times it (64 in FlowNet-S). */
  width: number;
  seed: number;
}

/** A conv + LeakyReLU(0.1), FlowNet's `conv(batchNorm=False, ...)`: padding (k - 1) / 2. */
class FlowConv extends Module {
  readonly conv: Conv2d;
  constructor(rng: Rng, inChannels: number, outChannels: number, kernel: number, stride: number) {
    super();
    this.conv = this.addModule(
      '0',
      new Conv2d(rng, inChannels, outChannels, kernel, { stride, padding: (kernel - 1) >> 1 }),
    );
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => tf.leakyRelu(this.conv.forward(x), 0.1));
  }
}

/** A 4x4 stride-2 deconv + LeakyReLU(0.1), FlowNet's `deconv`. */
class FlowDeconv extends Module {
  readonly deconv: ConvTranspose2d;
  constructor(rng: Rng, inChannels: number, outChannels: number) {
    super();
    this.deconv = this.addModule(
      '0',
      new ConvTranspose2d(rng, inChannels, outChannels, 4, { stride: 2, padding: 1, bias: false }),
    );
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => tf.leakyRelu(this.deconv.forward(x), 0.1));
  }
}

export interface FlowNetSOutput {
  /** Backward flow from frame `current` to frame `reference` at stride 4, in input pixels: [N, H/4, W/4, 2]. */
  flow: tf.Tensor4D;
  /** The decoder's last features (concat2, stride 4), from which DFF predicts its scale field. */
  features: tf.Tensor4D;
  /** Every prediction, finest first (flow2..flow6), divided by FLOW_DIV: FlowNet's multi-scale training targets. */
  predictions: tf.Tensor4D[];
}

/**
 * FlowNet-S ("FlowNetSimple", Dosovitskiy et al. 2015; the flow network of DFF and FGFA) at a configurable width,
 * with flownet2-pytorch's module names: encoder conv1 (7x7/2), conv2 (5x5/2), conv3 (5x5/2), conv3_1, conv4 (/2),
 * conv4_1, conv5 (/2), conv5_1, conv6 (/2), conv6_1, LeakyReLU(0.1); decoder of 4x4 stride-2 deconvs with skip
 * connections and upsampled coarser flows, predicting flow at strides 64 down to 4.
 *
 * `forward(current, reference)`: NHWC frames [N, H, W, 3] (H, W multiples of 64), concatenated current first.
 * The flow returned is the backward flow `warp` takes: sampling `reference` (or its features) at p + flow(p)
 * reproduces `current`.
 */
export class FlowNetS extends Module {
  readonly conv1: FlowConv;
  readonly conv2: FlowConv;
  readonly conv3: FlowConv;
  readonly conv3_1: FlowConv;
  readonly conv4: FlowConv;
  readonly conv4_1: FlowConv;
  readonly conv5: FlowConv;
  readonly conv5_1: FlowConv;
  readonly conv6: FlowConv;
  readonly conv6_1: FlowConv;
  readonly deconvs: FlowDeconv[];
  readonly predictFlows: Conv2d[];
  readonly upsampledFlows: ConvTranspose2d[];
  /** Channels of `features` (concat2). */
  readonly featureChannels: number;

  constructor(readonly config: FlowNetSConfig) {
    super();
    assertInteger('FlowNetS', 'config.width', config.width, 1);
    const rng = new Rng(config.seed);
    const c = config.width;
    this.conv1 = this.addModule('conv1', new FlowConv(rng, 6, c, 7, 2));
    this.conv2 = this.addModule('conv2', new FlowConv(rng, c, 2 * c, 5, 2));
    this.conv3 = this.addModule('conv3', new FlowConv(rng, 2 * c, 4 * c, 5, 2));
    this.conv3_1 = this.addModule('conv3_1', new FlowConv(rng, 4 * c, 4 * c, 3, 1));
    this.conv4 = this.addModule('conv4', new FlowConv(rng, 4 * c, 8 * c, 3, 2));
    this.conv4_1 = this.addModule('conv4_1', new FlowConv(rng, 8 * c, 8 * c, 3, 1));
    this.conv5 = this.addModule('conv5', new FlowConv(rng, 8 * c, 8 * c, 3, 2));
    this.conv5_1 = this.addModule('conv5_1', new FlowConv(rng, 8 * c, 8 * c, 3, 1));
    this.conv6 = this.addModule('conv6', new FlowConv(rng, 8 * c, 16 * c, 3, 2));
    this.conv6_1 = this.addModule('conv6_1', new FlowConv(rng, 16 * c, 16 * c, 3, 1));
    // Decoder levels 5..2: skip channels of conv5_1, conv4_1, conv3_1, conv2 and the deconv widths.
    const skips = [8 * c, 8 * c, 4 * c, 2 * c];
    const deconvOut = [8 * c, 4 * c, 2 * c, c];
    const concatIn = [16 * c, ...skips.map((s, i) => s + deconvOut[i] + 2)];
    this.deconvs = deconvOut.map((out, i) => this.addModule(`deconv${5 - i}`, new FlowDeconv(rng, concatIn[i], out)));
    this.predictFlows = concatIn.map((channels, i) =>
      this.addModule(`predict_flow${6 - i}`, new Conv2d(rng, channels, 2, 3, { padding: 1 })),
    );
    this.upsampledFlows = [6, 5, 4, 3].map((level) =>
      this.addModule(
        `upsampled_flow${level}_to_${level - 1}`,
        new ConvTranspose2d(rng, 2, 2, 4, { stride: 2, padding: 1, bias: false }),
      ),
    );
    this.featureChannels = concatIn[4];
  }

  forward(current: tf.Tensor, reference: tf.Tensor): FlowNetSOutput {
    checkFramePair('FlowNetS', current, reference);
    return tf.tidy(() => {
      const conv2 = this.conv2.forward(this.conv1.forward(tf.concat([current, reference], 3)));
      const conv3 = this.conv3_1.forward(this.conv3.forward(conv2));
      const conv4 = this.conv4_1.forward(this.conv4.forward(conv3));
      const conv5 = this.conv5_1.forward(this.conv5.forward(conv4));
      let x = this.conv6_1.forward(this.conv6.forward(conv5));
      const skips = [conv5, conv4, conv3, conv2];
      const predictions: tf.Tensor4D[] = [];
      let flow = this.predictFlows[0].forward(x);
      predictions.push(flow as tf.Tensor4D);
      skips.forEach((skip, i) => {
        x = tf.concat([skip, this.deconvs[i].forward(x), this.upsampledFlows[i].forward(flow)], 3);
        flow = this.predictFlows[i + 1].forward(x);
        predictions.push(flow as tf.Tensor4D);
      });
      return {
        flow: tf.mul(flow, FLOW_DIV) as tf.Tensor4D,
        features: x as tf.Tensor4D,
        predictions: predictions.reverse(),
      };
    });
  }
}

/** A flow network's two input frames: [N, H, W, 3] tensors of one shape, H and W multiples of FLOWNET_STRIDE. */
export function checkFramePair(op: string, current: tf.Tensor, reference: tf.Tensor): void {
  for (const [name, t] of [
    ['current', current],
    ['reference', reference],
  ] as const)
    if (!(t instanceof tf.Tensor)) throw argumentError(op, name, 'a [N, H, W, 3] tensor', t);
  const { H, W } = checkShapes(op, [
    { name: 'current', shape: current.shape, expected: ['N', 'H', 'W', 3] },
    { name: 'reference', shape: reference.shape, expected: ['N', 'H', 'W', 3] },
  ]);
  if (H % FLOWNET_STRIDE !== 0 || W % FLOWNET_STRIDE !== 0)
    throw argumentError(op, 'current', `height and width that are multiples of ${FLOWNET_STRIDE}`, [H, W]);
}
