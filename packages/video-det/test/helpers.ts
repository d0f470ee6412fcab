import * as tf from '@tensorflow/tfjs-core';
import { FASTER_RCNN_TINY, FasterRCNN, type FasterRcnnTarget } from '@deformjs/dcnv2-rcnn';

/** A tiny per-frame detector: FASTER_RCNN_TINY (R18 width 4, FPN 8) with 2 classes. */
export function tinyDetector(): FasterRCNN {
  return new FasterRCNN({ ...FASTER_RCNN_TINY, numClasses: 2, seed: 1 });
}

/** A 64 x 64 clip: a red square 20 px wide moving 5 px right per frame on grey; its box per frame. */
export function movingSquareClip(frames: number): { frames: tf.Tensor4D[]; targets: FasterRcnnTarget[] } {
  const size = 64;
  const clip = Array.from({ length: frames }, (_, t) => {
    const x0 = 8 + 5 * t;
    const pixels = new Float32Array(size * size * 3).fill(0);
    for (let y = 20; y < 40; y++) for (let x = x0; x < x0 + 20; x++) pixels.set([1.5, -1, -1], 3 * (y * size + x));
    return {
      frame: tf.tensor4d(pixels, [1, size, size, 3]),
      target: { boxes: Float32Array.of(x0, 20, x0 + 20, 40), labels: Int32Array.of(0) },
    };
  });
  return { frames: clip.map((c) => c.frame), targets: clip.map((c) => c.target) };
}
