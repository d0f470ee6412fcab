import * as tf from '@tensorflow/tfjs-core';
import { Module, type Rng } from '@deformjs/core';
import { AnchorGenerator, BoxCoder, Conv2d, ReLU, Sequential, batchedNms } from '@deformjs/nn';
import type { FasterRcnnConfig } from './config';
import { binaryCrossEntropyWithLogits, smoothL1Sum } from './losses';
import { iouMatrix, matchBoxes, sampleBalanced } from './matching';

/** torchvision's RPNHead: a shared 3x3 conv + ReLU (`conv.0.0`), then 1x1 `cls_logits` and `bbox_pred`. */
export class RPNHead extends Module {
  readonly conv: Sequential;
  readonly clsLogits: Conv2d;
  readonly bboxPred: Conv2d;

  constructor(rng: Rng, channels: number, numAnchors: number) {
    super();
    // torchvision: every conv N(0, 0.01), bias 0.
    const conv = (i: number, o: number, k: number) => {
      const c = new Conv2d(rng, i, o, k, { padding: (k - 1) / 2 });
      tf.tidy(() => {
        c.weight.assign(rng.normalTensor(c.weight.shape, 0, 0.01));
        c.bias!.assign(tf.zeros([o]));
      });
      return c;
    };
    this.conv = this.addModule('conv', new Sequential(new Sequential(conv(channels, channels, 3), new ReLU())));
    this.clsLogits = this.addModule('cls_logits', conv(channels, numAnchors, 1));
    this.bboxPred = this.addModule('bbox_pred', conv(channels, numAnchors * 4, 1));
  }

  /**
   * Features P2..P6 -> objectness [N, A] and deltas [N, A, 4] over all anchors A, level by level, then cell by
   * cell, then anchor: torchvision's concat_box_prediction_layers order, which NHWC gives directly.
   */
  forward(features: tf.Tensor[]): { objectness: tf.Tensor2D; deltas: tf.Tensor3D } {
    return tf.tidy(() => {
      const n = features[0].shape[0];
      const logits: tf.Tensor[] = [];
      const deltas: tf.Tensor[] = [];
      for (const x of features) {
        const t = this.conv.forward(x);
        logits.push(tf.reshape(this.clsLogits.forward(t), [n, -1]));
        deltas.push(tf.reshape(this.bboxPred.forward(t), [n, -1, 4]));
      }
      return { objectness: tf.concat(logits, 1) as tf.Tensor2D, deltas: tf.concat(deltas, 1) as tf.Tensor3D };
    });
  }
}

/** One image's ground truth: xyxy pixel boxes [G * 4] and labels 0..numClasses-1. */
export interface DetectionTarget {
  boxes: Float32Array;
  labels: Int32Array;
}

/**
 * torchvision's RegionProposalNetwork around `head`: anchors, proposal decoding and filtering (per-level top-k,
 * clipping, tiny boxes out, NMS per level, post-NMS top-k) and, in training, anchor matching (IoU 0.7 / 0.3
 * with low-quality matches), balanced sampling (256, 0.5) and its losses.
 */
export class RegionProposalNetwork extends Module {
  readonly head: RPNHead;
  readonly anchorGenerator: AnchorGenerator;
  readonly boxCoder = new BoxCoder([1, 1, 1, 1]);

  constructor(
    private readonly config: FasterRcnnConfig,
    rng: Rng,
  ) {
    super();
    const sizes = config.anchorSizes.map((s) => [s]);
    this.anchorGenerator = new AnchorGenerator(
      sizes,
      sizes.map(() => config.aspectRatios),
    );
    this.head = this.addModule('head', new RPNHead(rng, config.fpnChannels, config.aspectRatios.length));
  }

  /**
   * Proposals per image (xyxy, flat) from the head's outputs on `features` of a batch padded to `paddedSize`; each image's
   * proposals are clipped to its own `imageSizes[i]` ([height, width]). In training also the losses against
   * `targets`, sampled with `rng`.
   */
  forward(
    features: tf.Tensor[],
    paddedSize: [number, number],
    imageSizes: ReadonlyArray<readonly [number, number]>,
    targets: readonly DetectionTarget[] | null,
    rng: Rng,
  ): { proposals: Float32Array[]; losses: { lossObjectness: tf.Scalar; lossRpnBoxReg: tf.Scalar } | null } {
    const n = features[0].shape[0];
    const featureSizes = features.map((f) => [f.shape[1], f.shape[2]] as [number, number]);
    const anchors = this.anchorGenerator.generate(paddedSize, featureSizes);
    const perLevel = featureSizes.map(([fh, fw]) => fh * fw * this.config.aspectRatios.length);
    const { objectness, deltas } = this.head.forward(features);
    const numAnchors = anchors.length / 4;
    // Proposals carry no gradient (torchvision detaches them).
    const decoded = tf.tidy(() =>
      this.boxCoder.decode(
        tf.reshape(deltas, [n * numAnchors, 4]),
        tf.tile(tf.tensor2d(anchors, [numAnchors, 4]), [n, 1]),
      ),
    );
    const boxes = decoded.dataSync() as Float32Array;
    const scores = objectness.dataSync() as Float32Array;
    decoded.dispose();
    const proposals = imageSizes.map((size, b) =>
      this.filterProposals(
        boxes.subarray(b * numAnchors * 4, (b + 1) * numAnchors * 4),
        scores.subarray(b * numAnchors, (b + 1) * numAnchors),
        perLevel,
        size,
      ),
    );
    if (!targets) {
      tf.dispose([objectness, deltas]);
      return { proposals, losses: null };
    }
    const losses = this.loss(objectness, deltas, anchors, targets, rng);
    tf.dispose([objectness, deltas]);
    return { proposals, losses };
  }

  private filterProposals(
    boxes: Float32Array,
    logits: Float32Array,
    perLevel: number[],
    [height, width]: readonly [number, number],
  ): Float32Array {
    const training = this.training;
    const preNms = training ? this.config.rpn.preNmsTopNTrain : this.config.rpn.preNmsTopNTest;
    const postNms = training ? this.config.rpn.postNmsTopNTrain : this.config.rpn.postNmsTopNTest;
    const kept: number[] = [];
    const keptLevels: number[] = [];
    let start = 0;
    perLevel.forEach((count, level) => {
      const order = Array.from({ length: count }, (_, i) => start + i).sort((a, b) => logits[b] - logits[a] || a - b);
      for (const i of order.slice(0, preNms)) {
        kept.push(i);
        keptLevels.push(level);
      }
      start += count;
    });
    const clipped: number[] = [];
    const scores: number[] = [];
    const levels: number[] = [];
    kept.forEach((i, k) => {
      const x1 = Math.min(Math.max(boxes[4 * i], 0), width);
      const y1 = Math.min(Math.max(boxes[4 * i + 1], 0), height);
      const x2 = Math.min(Math.max(boxes[4 * i + 2], 0), width);
      const y2 = Math.min(Math.max(boxes[4 * i + 3], 0), height);
      if (x2 - x1 < 1e-3 || y2 - y1 < 1e-3) return;
      clipped.push(x1, y1, x2, y2);
      scores.push(1 / (1 + Math.exp(-logits[i])));
      levels.push(keptLevels[k]);
    });
    const keep = batchedNms(clipped, scores, levels, this.config.rpn.nmsThresh).slice(0, postNms);
    const out = new Float32Array(keep.length * 4);
    keep.forEach((i, k) => out.set(clipped.slice(4 * i, 4 * i + 4), 4 * k));
    return out;
  }

  /**
   * Matches anchors to each image's ground truth, samples 256 per image (half foreground at most) and returns
   * torchvision's compute_loss: BCE over the sampled anchors (mean) and smooth L1 (beta 1/9) over the foreground
   * ones, summed and divided by the number sampled.
   */
  private loss(
    objectness: tf.Tensor2D,
    deltas: tf.Tensor3D,
    anchors: Float32Array,
    targets: readonly DetectionTarget[],
    rng: Rng,
  ): { lossObjectness: tf.Scalar; lossRpnBoxReg: tf.Scalar } {
    const { fgIouThresh, bgIouThresh, batchSizePerImage, positiveFraction } = this.config.rpn;
    const numAnchors = anchors.length / 4;
    const sampled: number[] = [];
    const sampledLabels: number[] = [];
    const positive: number[] = [];
    const matchedBoxes: number[] = [];
    const positiveAnchors: number[] = [];
    targets.forEach((target, b) => {
      const numGt = target.boxes.length / 4;
      const matches = matchBoxes(iouMatrix(target.boxes, anchors), numGt, numAnchors, fgIouThresh, bgIouThresh, true);
      const labels = Int32Array.from(matches, (m) => (m >= 0 ? 1 : m === -1 ? 0 : -1));
      const picked = sampleBalanced(labels, batchSizePerImage, positiveFraction, rng);
      for (const a of picked.positive) {
        positive.push(b * numAnchors + a);
        matchedBoxes.push(...target.boxes.subarray(4 * matches[a], 4 * matches[a] + 4));
        positiveAnchors.push(...anchors.subarray(4 * a, 4 * a + 4));
      }
      for (const [indices, label] of [
        [picked.positive, 1],
        [picked.negative, 0],
      ] as const) {
        for (const a of indices) {
          sampled.push(b * numAnchors + a);
          sampledLabels.push(label);
        }
      }
    });
    return tf.tidy(() => {
      if (sampled.length === 0) return { lossObjectness: tf.scalar(0), lossRpnBoxReg: tf.scalar(0) };
      const logits = tf.gather(tf.reshape(objectness, [-1]), tf.tensor1d(sampled, 'int32'));
      const lossObjectness = binaryCrossEntropyWithLogits(logits, tf.tensor1d(sampledLabels));
      let lossRpnBoxReg = tf.scalar(0);
      if (positive.length > 0) {
        const pred = tf.gather(tf.reshape(deltas, [-1, 4]), tf.tensor1d(positive, 'int32'));
        const regressionTargets = this.boxCoder.encode(
          tf.tensor2d(matchedBoxes, [positive.length, 4]),
          tf.tensor2d(positiveAnchors, [positive.length, 4]),
        );
        lossRpnBoxReg = tf.div(smoothL1Sum(pred, regressionTargets, 1 / 9), sampled.length);
      }
      return { lossObjectness, lossRpnBoxReg };
    });
  }
}
