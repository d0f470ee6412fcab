import * as tf from '@tensorflow/tfjs-core';
import { Linear, Module, Rng, argumentError, checkShapes } from '@deformjs/core';
import { roiAlign } from '@deformjs/nn';
import { BackboneWithFPN, LEVEL_STRIDES } from './backbone';
import { validateFasterRcnnConfig, type FasterRcnnConfig } from './config';
import { cosineMimicLoss, crossEntropy } from './losses';
import { RegionProposalNetwork, type DetectionTarget } from './rpn';
import { RoIHeads, type Detections, type RoISample } from './roi_heads';

/** Images are padded to a multiple of the coarsest backbone stride, as torchvision's size_divisible. */
const SIZE_DIVISIBLE = 32;

/** One training image's targets: xyxy pixel boxes [G * 4], labels 0..numClasses-1, optional crowd flags. */
export interface FasterRcnnTarget extends DetectionTarget {
  /** Crowd regions (iscrowd 1) are left out of matching, as Detectron2 does. */
  iscrowd?: Uint8Array;
}

/** The loss terms by torchvision's names (plus the mimicking terms when configured). */
export type FasterRcnnLosses = Record<
  | 'loss_objectness'
  | 'loss_rpn_box_reg'
  | 'loss_classifier'
  | 'loss_box_reg'
  | 'loss_mimic'
  | 'loss_rcnn_cls'
  | 'loss_sparsity',
  tf.Scalar
>;

/**
 * Faster R-CNN with FPN (torchvision's FasterRCNN and its state_dict names: backbone.body, backbone.fpn, rpn.head,
 * roi_heads.box_head, roi_heads.box_predictor), with DCNv2's options: deformable convs (v1 or v2) in conv3-conv5,
 * modulated deformable RoI pooling in the box head, and R-CNN feature mimicking at training time. NHWC images
 * already normalised; each image's valid size is given (the batch may be padded bottom and right).
 */
export class FasterRCNN extends Module {
  readonly config: FasterRcnnConfig;
  readonly backbone: BackboneWithFPN;
  readonly rpn: RegionProposalNetwork;
  readonly roiHeads: RoIHeads;
  /** The R-CNN branch's classifier (feature mimicking only; unused at inference). */
  readonly rcnnClsScore: Linear | null;
  /** Draws the RPN's and RoI heads' samples; checkpoints save its `state()` and resume with `new Rng(state)`. */
  sampling: Rng;

  constructor(config: FasterRcnnConfig) {
    super();
    this.config = validateFasterRcnnConfig(config);
    const rng = new Rng(config.seed);
    this.backbone = this.addModule('backbone', new BackboneWithFPN(config));
    this.rpn = this.addModule('rpn', new RegionProposalNetwork(config, rng));
    this.roiHeads = this.addModule('roi_heads', new RoIHeads(config, rng));
    this.rcnnClsScore = config.mimic
      ? this.addModule('rcnn_cls_score', new Linear(rng, config.roi.representationSize, config.numClasses + 1))
      : null;
    this.sampling = rng.fork();
  }

  /** Channels of every feature map (the FPN's). */
  get featureChannels(): number {
    return this.config.fpnChannels;
  }

  /** Pads to a multiple of 32 and runs backbone + FPN: P2..P6 and the padded size. */
  features(images: tf.Tensor): { features: tf.Tensor[]; paddedSize: [number, number] } {
    const { features, paddedSize, sparsityLoss } = this.featuresWithLoss(images);
    sparsityLoss.dispose();
    return { features, paddedSize };
  }

  /** `features` and the backbone's sparsity loss (0 unless the backbone is sparse). */
  private featuresWithLoss(images: tf.Tensor): {
    features: tf.Tensor[];
    paddedSize: [number, number];
    sparsityLoss: tf.Scalar;
  } {
    const { H, W } = checkShapes('FasterRCNN', [{ name: 'images', shape: images.shape, expected: ['N', 'H', 'W', 3] }]);
    const paddedSize: [number, number] = [
      Math.ceil(H / SIZE_DIVISIBLE) * SIZE_DIVISIBLE,
      Math.ceil(W / SIZE_DIVISIBLE) * SIZE_DIVISIBLE,
    ];
    const { features, sparsityLoss } = tf.tidy(() =>
      this.backbone.forwardWithLoss(
        tf.pad(images, [
          [0, 0],
          [0, paddedSize[0] - H],
          [0, paddedSize[1] - W],
          [0, 0],
        ]),
      ),
    );
    return { features, paddedSize, sparsityLoss };
  }

  /** Training losses on a batch (call inside tf.variableGrads; the caller sums and disposes the terms). */
  loss(
    images: tf.Tensor,
    imageSizes: ReadonlyArray<readonly [number, number]>,
    targets: readonly FasterRcnnTarget[],
  ): FasterRcnnLosses {
    const cleanTargets = this.checkInputs('FasterRCNN.loss', images, imageSizes, targets);
    const { features, paddedSize, sparsityLoss } = this.featuresWithLoss(images);
    const { losses, sample, boxFeatures } = this.headLosses(features, paddedSize, imageSizes, cleanTargets);
    const mimic = this.mimicLosses(images, sample, boxFeatures);
    tf.dispose([...features, boxFeatures]);
    return { ...losses, ...mimic, loss_sparsity: sparsityLoss };
  }

  /**
   * The task network's training losses (RPN and box head, torchvision's four terms) on feature maps from
   * `features` (or computed otherwise from them, e.g. warped from another frame), for video detectors that
   * split the detector into a feature network and a task network. R-CNN feature mimicking needs the images and
   * is left out here. Call inside tf.variableGrads; the features are not disposed.
   */
  taskLoss(
    features: readonly tf.Tensor[],
    paddedSize: [number, number],
    imageSizes: ReadonlyArray<readonly [number, number]>,
    targets: readonly FasterRcnnTarget[],
  ): Pick<FasterRcnnLosses, 'loss_objectness' | 'loss_rpn_box_reg' | 'loss_classifier' | 'loss_box_reg'> {
    const op = 'FasterRCNN.taskLoss';
    const cleanTargets = this.checkTargets(op, this.featureBatch(op, features, paddedSize), imageSizes, targets);
    const { losses, boxFeatures } = this.headLosses([...features], paddedSize, imageSizes, cleanTargets);
    boxFeatures.dispose();
    return losses;
  }

  private headLosses(
    features: tf.Tensor[],
    paddedSize: [number, number],
    imageSizes: ReadonlyArray<readonly [number, number]>,
    targets: DetectionTarget[],
  ): {
    losses: Pick<FasterRcnnLosses, 'loss_objectness' | 'loss_rpn_box_reg' | 'loss_classifier' | 'loss_box_reg'>;
    sample: RoISample;
    boxFeatures: tf.Tensor2D;
  } {
    const { proposals, losses } = this.rpn.forward(features, paddedSize, imageSizes, targets, this.sampling);
    const sample = this.roiHeads.sample(proposals, targets, this.sampling);
    const head = this.roiHeads.loss(features, sample);
    return {
      losses: {
        loss_objectness: losses!.lossObjectness,
        loss_rpn_box_reg: losses!.lossRpnBoxReg,
        loss_classifier: head.lossClassifier,
        loss_box_reg: head.lossBoxReg,
      },
      sample,
      boxFeatures: head.boxFeatures,
    };
  }

  /**
   * R-CNN feature mimicking: up to `roisPerImage` sampled foreground RoIs per image are cropped from the image
   * (aligned RoIAlign, cropSize x cropSize), run through the shared backbone, FPN, RoI pooling of the whole crop
   * and 2fc head, then classified by `rcnn_cls_score`; the mimic loss pulls the Faster R-CNN RoI features
   * toward the crops' (1 - cosine similarity). Both terms times lossWeight; zeros when off or without foreground.
   */
  private mimicLosses(
    images: tf.Tensor,
    sample: RoISample,
    boxFeatures: tf.Tensor2D,
  ): Pick<FasterRcnnLosses, 'loss_mimic' | 'loss_rcnn_cls'> {
    const mimic = this.config.mimic;
    const picked: number[] = [];
    const perImage = new Map<number, number>();
    if (mimic) {
      sample.labels.forEach((label, i) => {
        const b = sample.rois[5 * i];
        if (label > 0 && (perImage.get(b) ?? 0) < mimic.roisPerImage) {
          picked.push(i);
          perImage.set(b, (perImage.get(b) ?? 0) + 1);
        }
      });
    }
    if (!mimic || picked.length === 0) return { loss_mimic: tf.scalar(0), loss_rcnn_cls: tf.scalar(0) };
    const size = mimic.cropSize;
    const rows = Float32Array.from(picked.flatMap((i) => Array.from(sample.rois.subarray(5 * i, 5 * i + 5))));
    const crops = tf.tidy(() =>
      roiAlign(images, tf.tensor2d(rows, [picked.length, 5]), size, { aligned: true, samplingRatio: 2 }),
    );
    const { features } = this.withRunningStatisticsKept(() => this.features(crops));
    const wholeCrops = Float32Array.from(picked.flatMap((_, j) => [j, 0, 0, size, size]));
    const result = tf.tidy(() => {
      const rcnnFeatures = this.roiHeads.boxFeatures(features, wholeCrops);
      const logits = this.rcnnClsScore!.forward(rcnnFeatures);
      const labels = tf.tensor1d(
        Int32Array.from(picked, (i) => sample.labels[i]),
        'int32',
      );
      const fasterFeatures = tf.gather(boxFeatures, tf.tensor1d(picked, 'int32'));
      return {
        loss_mimic: tf.mul(cosineMimicLoss(fasterFeatures, rcnnFeatures), mimic.lossWeight) as tf.Scalar,
        loss_rcnn_cls: tf.mul(crossEntropy(logits, labels), mimic.lossWeight) as tf.Scalar,
      };
    });
    tf.dispose([crops, ...features]);
    return result;
  }

  /**
   * Runs `fn` and puts the backbone's buffers (batch norm's running statistics) back as they were. The R-CNN
   * branch's crops are upscaled close-ups of objects, not images: with trainable batch norm they are normalised by
   * their own batch statistics, but the running statistics that inference normalises images with stay those of
   * images. The paper's backbone has frozen batch norm, where the crops cannot move any statistic either.
   */
  private withRunningStatisticsKept<T>(fn: () => T): T {
    const buffers = this.backbone
      .namedParameters()
      .filter(([, p]) => !p.trainable)
      .map(([, p]) => p.variable);
    const saved = buffers.map((b) => tf.clone(b));
    try {
      return fn();
    } finally {
      buffers.forEach((b, i) => b.assign(saved[i]));
      tf.dispose(saved);
    }
  }

  /** Detections per image (xyxy pixels of the valid image, labels 0..numClasses-1); no gradients. */
  detect(images: tf.Tensor, imageSizes: ReadonlyArray<readonly [number, number]>): Detections[] {
    this.checkInputs('FasterRCNN.detect', images, imageSizes, null);
    const { features, paddedSize } = this.features(images);
    const detections = this.detectFromFeatures(features, paddedSize, imageSizes);
    tf.dispose(features);
    return detections;
  }

  /** The task network alone: detections from P2..P6 feature maps (see `taskLoss`); the features are not disposed. */
  detectFromFeatures(
    features: readonly tf.Tensor[],
    paddedSize: [number, number],
    imageSizes: ReadonlyArray<readonly [number, number]>,
  ): Detections[] {
    const op = 'FasterRCNN.detectFromFeatures';
    this.checkTargets(op, this.featureBatch(op, features, paddedSize), imageSizes, null);
    const { proposals } = this.rpn.forward([...features], paddedSize, imageSizes, null, this.sampling);
    return this.roiHeads.detect([...features], proposals, imageSizes);
  }

  /**
   * Checks feature maps against the pyramid `features` returns (one [N, H/s, W/s, fpnChannels] map per stride of
   * LEVEL_STRIDES for the padded size) and returns the batch's [N, H, W].
   */
  private featureBatch(
    op: string,
    features: readonly tf.Tensor[],
    paddedSize: [number, number],
  ): [number, number, number] {
    const [H, W] = paddedSize;
    if (
      !Array.isArray(features) ||
      features.length !== LEVEL_STRIDES.length ||
      !features.every((f) => f instanceof tf.Tensor)
    )
      throw argumentError(op, 'features', `${LEVEL_STRIDES.length} tensors (P2..P6)`, features);
    if (!(Number.isInteger(H) && H % SIZE_DIVISIBLE === 0 && Number.isInteger(W) && W % SIZE_DIVISIBLE === 0))
      throw argumentError(op, 'paddedSize', `[height, width], multiples of ${SIZE_DIVISIBLE}`, paddedSize);
    const N = features[0].shape[0];
    features.forEach((f, l) =>
      checkShapes(op, [
        {
          name: `features[${l}]`,
          shape: f.shape,
          expected: [N, Math.ceil(H / LEVEL_STRIDES[l]), Math.ceil(W / LEVEL_STRIDES[l]), this.config.fpnChannels],
        },
      ]),
    );
    return [N, H, W];
  }

  private checkInputs(
    op: string,
    images: tf.Tensor,
    imageSizes: ReadonlyArray<readonly [number, number]>,
    targets: readonly FasterRcnnTarget[] | null,
  ): DetectionTarget[] {
    if (!(images instanceof tf.Tensor)) throw argumentError(op, 'images', 'a [N, H, W, 3] tensor (NHWC)', images);
    const { N, H, W } = checkShapes(op, [{ name: 'images', shape: images.shape, expected: ['N', 'H', 'W', 3] }]);
    return this.checkTargets(op, [N, H, W], imageSizes, targets);
  }

  /** Image sizes within the batch's [N, H, W] and targets with one box per valid label (crowds dropped). */
  private checkTargets(
    op: string,
    [N, H, W]: [number, number, number],
    imageSizes: ReadonlyArray<readonly [number, number]>,
    targets: readonly FasterRcnnTarget[] | null,
  ): DetectionTarget[] {
    if (!Array.isArray(imageSizes) || imageSizes.length !== N)
      throw argumentError(op, 'imageSizes', `one [height, width] per image (${N})`, imageSizes);
    imageSizes.forEach(([h, w], i) => {
      if (!(h > 0 && h <= H && w > 0 && w <= W))
        throw argumentError(op, `imageSizes[${i}]`, `[height, width] within the batch's ${H} x ${W}`, [h, w]);
    });
    if (targets === null) return [];
    if (!Array.isArray(targets) || targets.length !== N)
      throw argumentError(op, 'targets', `one { boxes, labels } per image (${N})`, targets);
    return targets.map((t, i) => {
      const g = t.labels.length;
      if (t.boxes.length !== 4 * g)
        throw argumentError(
          op,
          `targets[${i}].boxes`,
          `${g} x 4 values (one box per label)`,
          `${t.boxes.length} values`,
        );
      t.labels.forEach((l: number) => {
        if (!(Number.isInteger(l) && l >= 0 && l < this.config.numClasses))
          throw argumentError(op, `targets[${i}].labels`, `integers in [0, ${this.config.numClasses})`, l);
      });
      const keep = Array.from({ length: g }, (_, j) => j).filter((j) => !t.iscrowd?.[j]);
      return {
        boxes: Float32Array.from(keep.flatMap((j) => Array.from(t.boxes.subarray(4 * j, 4 * j + 4)))),
        labels: Int32Array.from(keep, (j) => t.labels[j]),
      };
    });
  }
}
