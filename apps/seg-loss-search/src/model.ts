import * as tf from '@tensorflow/tfjs-core';
import { Module, type Rng } from '@deformjs/core';
import { Conv2d, ReLU, Sequential, resizeBilinear } from '@deformjs/nn';

/**
 * Conv + ReLU, without batch norm: on tfjs-backend-wasm the BatchNorm gradient spends most of a training step
 * in Tile (broadcasting statistics back to the input shape), and a network this shallow trains without it.
 */
function convRelu(rng: Rng, cin: number, cout: number, options: { stride?: number; kernel?: number } = {}): Sequential {
  const { stride = 1, kernel = 3 } = options;
  return new Sequential(
    new Conv2d(rng, cin, cout, kernel, { stride, padding: (kernel - 1) / 2, init: 'kaiming-fan-out' }),
    new ReLU(),
  );
}

/**
 * A tiny DeepLabV3+-shaped segmenter for 48-96 px images on a CPU: a stride-4 encoder with a context block,
 * a decoder that adds back the stride-2 features, and logits resized to the input (nn's resize, F.interpolate
 * with align_corners=True, the setting of the runs the README reports). NHWC in, NHWC logits [B, H, W, K] out.
 */
export class TinySegmenter extends Module {
  readonly stem: Sequential;
  readonly down: Sequential;
  readonly context: Sequential;
  readonly lowLevel: Sequential;
  readonly fuse: Sequential;
  readonly classifier: Conv2d;

  constructor(rng: Rng, numClasses: number, width = 32) {
    super();
    this.stem = this.addModule(
      'stem',
      new Sequential(convRelu(rng, 3, width / 2, { stride: 2 }), convRelu(rng, width / 2, width / 2)),
    );
    this.down = this.addModule(
      'down',
      new Sequential(convRelu(rng, width / 2, width, { stride: 2 }), convRelu(rng, width, width)),
    );
    this.context = this.addModule('context', new Sequential(convRelu(rng, width, width), convRelu(rng, width, width)));
    this.lowLevel = this.addModule('low_level', convRelu(rng, width / 2, width / 2, { kernel: 1 }));
    this.fuse = this.addModule('fuse', convRelu(rng, width + width / 2, width));
    this.classifier = this.addModule('classifier', new Conv2d(rng, width, numClasses, 1));
  }

  forward(images: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [, height, width] = images.shape;
      const s2 = this.stem.forward(images) as tf.Tensor4D;
      const s4 = this.context.forward(this.down.forward(s2)) as tf.Tensor4D;
      const up = resizeBilinear(s4, [s2.shape[1], s2.shape[2]], { alignCorners: true });
      const fused = this.fuse.forward(tf.concat([up, this.lowLevel.forward(s2)], 3));
      const logits = this.classifier.forward(fused) as tf.Tensor4D;
      return resizeBilinear(logits, [height, width], { alignCorners: true });
    });
  }
}
