import * as tf from '@tensorflow/tfjs-core';
import { Linear, Module, type Rng } from '@deformjs/core';
import { ModulatedDeformRoIPoolPack } from '@deformjs/dcn';
import { BoxCoder, ModuleList, batchedNms, roiAlign } from '@deformjs/nn';
import { LEVEL_STRIDES } from './backbone';
import type { FasterRcnnConfig } from './config';
import { crossEntropy, smoothL1Sum } from './losses';
import { iouMatrix, mapLevels, matchBoxes, sampleBalanced } from './matching';
import type { DetectionTarget } from './rpn';

/** Levels P2..P5 pool RoIs (P6 only feeds the RPN), as torchvision's featmap_names ['0', '1', '2', '3']. */
const POOLED_LEVELS = 4;

/**
 * torchvision's MultiScaleRoIAlign, or with `mdpool` one mmcv ModulatedDeformRoIPoolPack per level as mmdet's
 * SingleRoIExtractor (`roi_layers.<level>.offset_fc` / `mask_fc`): the level mapper sends each RoI to one of
 * P2..P5 and it is pooled there to outputSize x outputSize.
 */
export class MultiScaleRoIPool extends Module {
  readonly roiLayers: ModulatedDeformRoIPoolPack[] = [];

  constructor(
    private readonly config: FasterRcnnConfig,
    rng: Rng,
  ) {
    super();
    if (config.roi.pooling === 'mdpool') {
      const layers = this.addModule('roi_layers', new ModuleList());
      for (let l = 0; l < POOLED_LEVELS; l++) {
        this.roiLayers.push(
          layers.add(
            String(l),
            new ModulatedDeformRoIPoolPack(rng, {
              outputSize: config.roi.outputSize,
              outputChannels: config.fpnChannels,
              spatialScale: 1 / LEVEL_STRIDES[l],
              samplingRatio: config.roi.samplingRatio,
              deformFcChannels: config.roi.deformFcChannels,
            }),
          ),
        );
      }
    }
  }

  /** Level (0 = P2) of each RoI of `rois` [K * 5] rows (batch index, x1, y1, x2, y2). */
  levels(rois: Float32Array): Int32Array {
    const boxes = new Float32Array((rois.length / 5) * 4);
    for (let k = 0; k < rois.length / 5; k++) boxes.set(rois.subarray(5 * k + 1, 5 * k + 5), 4 * k);
    const { canonicalScale, canonicalLevel } = this.config.roi;
    return mapLevels(boxes, 2, 2 + POOLED_LEVELS - 1, canonicalScale, canonicalLevel);
  }

  /** features P2..P5 (more are ignored), rois [K * 5] -> [K, outputSize, outputSize, C]. */
  forward(features: tf.Tensor[], rois: Float32Array): tf.Tensor4D {
    const { outputSize, samplingRatio, pooling } = this.config.roi;
    const levels = this.levels(rois);
    const k = levels.length;
    return tf.tidy(() => {
      const pooled: tf.Tensor[] = [];
      const order: number[] = [];
      for (let l = 0; l < POOLED_LEVELS; l++) {
        const members: number[] = [];
        levels.forEach((level, i) => level === l && members.push(i));
        if (members.length === 0) continue;
        const rows = tf.tensor2d(
          Float32Array.from(members.flatMap((i) => Array.from(rois.subarray(5 * i, 5 * i + 5)))),
          [members.length, 5],
        );
        pooled.push(
          pooling === 'mdpool'
            ? this.roiLayers[l].forward(features[l] as tf.Tensor4D, rows)
            : roiAlign(features[l], rows, outputSize, { spatialScale: 1 / LEVEL_STRIDES[l], samplingRatio }),
        );
        order.push(...members);
      }
      if (k === 0) return tf.zeros([0, outputSize, outputSize, features[0].shape[3] as number]) as tf.Tensor4D;
      const inverse = new Int32Array(k);
      order.forEach((i, position) => (inverse[i] = position));
      return tf.gather(tf.concat(pooled, 0), tf.tensor1d(inverse, 'int32')) as tf.Tensor4D;
    });
  }
}

/** torchvision's TwoMLPHead: flatten in PyTorch's (C, h, w) order, fc6 + ReLU, fc7 + ReLU. */
export class TwoMLPHead extends Module {
  readonly fc6: Linear;
  readonly fc7: Linear;

  constructor(rng: Rng, inChannels: number, outputSize: number, representationSize: number) {
    super();
    this.fc6 = this.addModule('fc6', new Linear(rng, inChannels * outputSize * outputSize, representationSize));
    this.fc7 = this.addModule('fc7', new Linear(rng, representationSize, representationSize));
  }

  forward(pooled: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => {
      const flat = tf.reshape(tf.transpose(pooled, [0, 3, 1, 2]), [pooled.shape[0], -1]);
      return tf.relu(this.fc7.forward(tf.relu(this.fc6.forward(flat)))) as tf.Tensor2D;
    });
  }
}

/** torchvision's FastRCNNPredictor: `cls_score` over numClasses + 1 (0 background), per-class `bbox_pred`. */
export class FastRCNNPredictor extends Module {
  readonly clsScore: Linear;
  readonly bboxPred: Linear;

  constructor(rng: Rng, inChannels: number, numClassesWithBackground: number) {
    super();
    this.clsScore = this.addModule('cls_score', new Linear(rng, inChannels, numClassesWithBackground));
    this.bboxPred = this.addModule('bbox_pred', new Linear(rng, inChannels, numClassesWithBackground * 4));
  }

  forward(x: tf.Tensor2D): { classLogits: tf.Tensor2D; boxRegression: tf.Tensor2D } {
    return {
      classLogits: this.clsScore.forward(x) as tf.Tensor2D,
      boxRegression: this.bboxPred.forward(x) as tf.Tensor2D,
    };
  }
}

/** RoIs sampled for the box head's loss: rows (batch index, x1, y1, x2, y2), classes (0 background), targets. */
export interface RoISample {
  rois: Float32Array;
  labels: Int32Array;
  /** The matched ground-truth box of every RoI [K * 4] (zeros for background). */
  matchedBoxes: Float32Array;
}

/** One image's detections: K x 4 xyxy pixel boxes, labels 0..numClasses-1. */
export interface Detections {
  scores: Float32Array;
  labels: Int32Array;
  boxes: Float32Array;
}

/**
 * torchvision's RoIHeads for boxes: `box_roi_pool`, `box_head`, `box_predictor`; RoI matching (0.5) and sampling
 * (512, 0.25) with the ground truth added to the proposals; fastrcnn_loss; postprocess_detections.
 */
export class RoIHeads extends Module {
  readonly boxRoiPool: MultiScaleRoIPool;
  readonly boxHead: TwoMLPHead;
  readonly boxPredictor: FastRCNNPredictor;
  readonly boxCoder = new BoxCoder([10, 10, 5, 5]);

  constructor(
    private readonly config: FasterRcnnConfig,
    rng: Rng,
  ) {
    super();
    const { fpnChannels, numClasses } = config;
    const { outputSize, representationSize } = config.roi;
    this.boxRoiPool = this.addModule('box_roi_pool', new MultiScaleRoIPool(config, rng));
    this.boxHead = this.addModule('box_head', new TwoMLPHead(rng, fpnChannels, outputSize, representationSize));
    this.boxPredictor = this.addModule('box_predictor', new FastRCNNPredictor(rng, representationSize, numClasses + 1));
  }

  /** The 2fc features [K, representationSize] of `rois` [K * 5] on features P2..P5. */
  boxFeatures(features: tf.Tensor[], rois: Float32Array): tf.Tensor2D {
    return tf.tidy(() => this.boxHead.forward(this.boxRoiPool.forward(features, rois)));
  }

  /**
   * torchvision's select_training_samples: proposals plus the ground truth, matched at IoU 0.5 (no low-quality
   * matches), 512 per image with at most a quarter foreground.
   */
  sample(proposals: readonly Float32Array[], targets: readonly DetectionTarget[], rng: Rng): RoISample {
    const { fgIouThresh, bgIouThresh, batchSizePerImage, positiveFraction } = this.config.roi;
    const rois: number[] = [];
    const labels: number[] = [];
    const matched: number[] = [];
    targets.forEach((target, b) => {
      const boxes = new Float32Array(proposals[b].length + target.boxes.length);
      boxes.set(proposals[b]);
      boxes.set(target.boxes, proposals[b].length);
      const numGt = target.boxes.length / 4;
      const count = boxes.length / 4;
      const matches = matchBoxes(iouMatrix(target.boxes, boxes), numGt, count, fgIouThresh, bgIouThresh, false);
      const classes = Int32Array.from(matches, (m) => (m >= 0 ? target.labels[m] + 1 : m === -1 ? 0 : -1));
      const picked = sampleBalanced(classes, batchSizePerImage, positiveFraction, rng);
      for (const i of [...picked.positive, ...picked.negative]) {
        rois.push(b, ...boxes.subarray(4 * i, 4 * i + 4));
        labels.push(classes[i]);
        matched.push(...(classes[i] > 0 ? target.boxes.subarray(4 * matches[i], 4 * matches[i] + 4) : [0, 0, 0, 0]));
      }
    });
    return { rois: Float32Array.from(rois), labels: Int32Array.from(labels), matchedBoxes: Float32Array.from(matched) };
  }

  /**
   * torchvision's fastrcnn_loss on the sampled RoIs: cross-entropy over all of them (mean) and smooth L1
   * (beta 1/9) of the ground-truth class's deltas on the foreground ones, summed and divided by their number.
   * Also returns the RoIs' 2fc features (for feature mimicking).
   */
  loss(
    features: tf.Tensor[],
    sample: RoISample,
  ): { lossClassifier: tf.Scalar; lossBoxReg: tf.Scalar; boxFeatures: tf.Tensor2D } {
    const k = sample.labels.length;
    return tf.tidy(() => {
      if (k === 0) {
        const empty = tf.zeros([0, this.config.roi.representationSize]) as tf.Tensor2D;
        return { lossClassifier: tf.scalar(0), lossBoxReg: tf.scalar(0), boxFeatures: empty };
      }
      const boxFeatures = this.boxFeatures(features, sample.rois);
      const { classLogits, boxRegression } = this.boxPredictor.forward(boxFeatures);
      const lossClassifier = crossEntropy(classLogits, tf.tensor1d(sample.labels, 'int32'));
      const positive: number[] = [];
      sample.labels.forEach((l, i) => l > 0 && positive.push(i));
      let lossBoxReg = tf.scalar(0);
      if (positive.length > 0) {
        const numClasses = this.config.numClasses + 1;
        const picks = positive.map((i) => i * numClasses + sample.labels[i]);
        const pred = tf.gather(tf.reshape(boxRegression, [-1, 4]), tf.tensor1d(picks, 'int32'));
        const pick = (data: Float32Array, stride: number, from: number) =>
          Float32Array.from(
            positive.flatMap((i) => Array.from(data.subarray(stride * i + from, stride * i + from + 4))),
          );
        const regressionTargets = this.boxCoder.encode(
          tf.tensor2d(pick(sample.matchedBoxes, 4, 0), [positive.length, 4]),
          tf.tensor2d(pick(sample.rois, 5, 1), [positive.length, 4]),
        );
        lossBoxReg = tf.div(smoothL1Sum(pred, regressionTargets, 1 / 9), k);
      }
      return { lossClassifier, lossBoxReg, boxFeatures };
    });
  }

  /**
   * torchvision's postprocess_detections: softmax scores, per-class decoded boxes clipped to each image, background
   * dropped, score > scoreThresh, boxes under 1e-2 px dropped, NMS per class, top detectionsPerImage.
   */
  detect(
    features: tf.Tensor[],
    proposals: readonly Float32Array[],
    imageSizes: ReadonlyArray<readonly [number, number]>,
  ): Detections[] {
    const rois = Float32Array.from(
      proposals.flatMap((p, b) => {
        const rows: number[] = [];
        for (let i = 0; i < p.length; i += 4) rows.push(b, p[i], p[i + 1], p[i + 2], p[i + 3]);
        return rows;
      }),
    );
    const numClasses = this.config.numClasses + 1;
    const k = rois.length / 5;
    const [scoreData, boxData] = tf.tidy(() => {
      if (k === 0) return [new Float32Array(0), new Float32Array(0)];
      const { classLogits, boxRegression } = this.boxPredictor.forward(this.boxFeatures(features, rois));
      const reference = tf.reshape(
        tf.tile(
          tf.expandDims(
            tf.tensor2d(
              proposals.flatMap((p) => Array.from(p)),
              [k, 4],
            ),
            1,
          ),
          [1, numClasses, 1],
        ),
        [-1, 4],
      );
      const decoded = this.boxCoder.decode(tf.reshape(boxRegression, [-1, 4]), reference);
      return [tf.softmax(classLogits).dataSync() as Float32Array, decoded.dataSync() as Float32Array];
    });
    const { scoreThresh, nmsThresh, detectionsPerImage } = this.config.roi;
    let row = 0;
    return proposals.map((p, b) => {
      const [height, width] = imageSizes[b];
      const boxes: number[] = [];
      const scores: number[] = [];
      const labels: number[] = [];
      for (let i = 0; i < p.length / 4; i++, row++) {
        for (let c = 1; c < numClasses; c++) {
          const score = scoreData[row * numClasses + c];
          if (!(score > scoreThresh)) continue;
          const o = (row * numClasses + c) * 4;
          const x1 = Math.min(Math.max(boxData[o], 0), width);
          const y1 = Math.min(Math.max(boxData[o + 1], 0), height);
          const x2 = Math.min(Math.max(boxData[o + 2], 0), width);
          const y2 = Math.min(Math.max(boxData[o + 3], 0), height);
          if (x2 - x1 < 1e-2 || y2 - y1 < 1e-2) continue;
          boxes.push(x1, y1, x2, y2);
          scores.push(score);
          labels.push(c - 1);
        }
      }
      const keep = batchedNms(boxes, scores, labels, nmsThresh).slice(0, detectionsPerImage);
      return {
        scores: Float32Array.from(keep, (i) => scores[i]),
        labels: Int32Array.from(keep, (i) => labels[i]),
        boxes: Float32Array.from(Array.from(keep).flatMap((i) => boxes.slice(4 * i, 4 * i + 4))),
      };
    });
  }
}
