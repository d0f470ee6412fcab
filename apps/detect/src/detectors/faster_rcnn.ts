import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@deformjs/core';
import type { Batch } from '@deformjs/datasets';
import {
  ABLATION_VARIANTS,
  FASTER_RCNN_R50_FPN,
  FASTER_RCNN_SMALL,
  FASTER_RCNN_TINY,
  FasterRCNN,
  SPARSE_VARIANTS,
  validateFasterRcnnConfig,
  withAblationVariant,
  withSparseVariant,
  type AblationVariant,
  type FasterRcnnConfig,
  type SparseVariant,
} from '@deformjs/dcnv2-rcnn';
import { checkBounds, type Detector, type DetectorKind } from '../detector';

/** The loader batch as Faster R-CNN's inputs: NHWC images, each image's valid size, xyxy pixel targets with crowd flags. */
function inputs(batch: Batch) {
  return {
    images: tf.tensor4d(batch.images, [batch.batchSize, batch.height, batch.width, 3]),
    imageSizes: batch.targets.map((t) => t.size),
    targets: batch.targets.map((t) => ({ boxes: t.boxesXyxy, labels: t.labels, iscrowd: t.iscrowd })),
  };
}

function fasterRcnnDetector(model: FasterRCNN): Detector {
  return {
    model,
    rngs: () => ({ sampling: model.sampling }),
    restoreRngs: (states) => {
      model.sampling = new Rng(states.sampling);
    },
    paramGroups: () => [{ params: model.trainableVariables() }],
    loss(batch) {
      const { images, imageSizes, targets } = inputs(batch);
      // Inside tf.variableGrads' scope: the images tensor is released with it.
      const components = model.loss(images, imageSizes, targets);
      return { loss: tf.addN(Object.values(components)) as tf.Scalar, components };
    },
    detect(batch) {
      const { images, imageSizes } = inputs(batch);
      const detections = model.detect(images, imageSizes);
      images.dispose();
      // Boxes from the transformed image's pixels to the stored image's.
      return detections.map((d, i) => {
        const [h, w] = batch.targets[i].size;
        const [oh, ow] = batch.targets[i].origSize;
        const boxes = d.boxes.map((v, k) => (k % 2 === 0 ? (v * ow) / w : (v * oh) / h));
        return { ...d, boxes };
      });
    },
  };
}

export const fasterRcnn: DetectorKind<FasterRcnnConfig> = {
  name: 'faster-rcnn',
  label: 'Faster R-CNN',
  presets: ['small', 'r50', 'tiny'],
  variants: [...Object.keys(ABLATION_VARIANTS), ...Object.keys(SPARSE_VARIANTS)],
  defaults: { lr: 1e-3, lrBackbone: 1, clip: 10 },
  config: ({ preset, variant, numClasses, seed }) => {
    const base = { r50: FASTER_RCNN_R50_FPN, tiny: FASTER_RCNN_TINY }[preset] ?? FASTER_RCNN_SMALL;
    return variant in SPARSE_VARIANTS
      ? withSparseVariant({ ...base, numClasses, seed }, variant as SparseVariant)
      : withAblationVariant({ ...base, numClasses, seed }, variant as AblationVariant);
  },
  validate: (config, source) => {
    if (config === null || typeof config !== 'object' || Array.isArray(config))
      throw new Error(`FasterRCNN (${source}): config must be an object, got ${JSON.stringify(config)}`);
    const c = config as Record<string, Record<string, unknown>>;
    checkBounds(`FasterRCNN (${source})`, c as Record<string, unknown>, {
      fpnChannels: [1, 4096],
      numClasses: [1, 10000],
    });
    checkBounds(`FasterRCNN (${source})`, c.backbone ?? {}, { width: [1, 512] });
    checkBounds(`FasterRCNN (${source})`, c.roi ?? {}, {
      representationSize: [1, 16384],
      batchSizePerImage: [1, 100000],
    });
    return validateFasterRcnnConfig(config as FasterRcnnConfig);
  },
  numClasses: (config) => config.numClasses,
  build: (config) => fasterRcnnDetector(new FasterRCNN(config)),
};
