import * as tf from '@tensorflow/tfjs-core';
import type { Batch } from '@deformjs/datasets';
import {
  DEFORMABLE_DETR_R50,
  DEFORMABLE_DETR_SMALL,
  DETR,
  DETR_R50,
  DETR_SMALL,
  DeformableDETR,
  SetCriterion,
  disposeOutputs,
  paramGroups,
  postProcess,
  validateDeformableDetrConfig,
  validateDetrConfig,
  type BackboneConfig,
  type ClassificationKind,
  type DeformableDetrConfig,
  type DetectionTarget,
  type DetrConfig,
} from '@deformjs/deformable-detr';
import { checkBounds, type Detector, type DetectorKind, type LossOptions } from '../detector';

/**
 * Sizes far above any published configuration (R50: d 256, 6+6 layers, 300 queries, 91 classes) but small
 * enough that building the model stays within a laptop's memory.
 */
const BOUNDS: Record<string, [number, number]> = {
  hiddenDim: [2, 2048],
  nHeads: [1, 64],
  encLayers: [0, 24],
  decLayers: [1, 24],
  dimFeedforward: [1, 16384],
  numQueries: [1, 5000],
  numClasses: [1, 10000],
};
const DEFORMABLE_BOUNDS: Record<string, [number, number]> = {
  numFeatureLevels: [1, 8],
  encNPoints: [1, 32],
  decNPoints: [1, 32],
  groupNormGroups: [1, 2048],
};

/** The smallest model that still has every part: smoke tests and quick checks of the app, not results. */
const TINY = {
  backbone: { depth: 18, width: 4 },
  hiddenDim: 16,
  nHeads: 2,
  encLayers: 1,
  decLayers: 1,
  dimFeedforward: 32,
  numQueries: 8,
} as const;

function checkStored<C>(op: string, config: unknown, bounds: Record<string, [number, number]>): C {
  if (config === null || typeof config !== 'object' || Array.isArray(config))
    throw new Error(`${op}: config must be an object, got ${JSON.stringify(config)}`);
  const c = config as Record<string, unknown>;
  checkBounds(op, c, bounds);
  checkBounds(op, (c.backbone ?? {}) as Record<string, unknown>, { width: [1, 512] });
  return config as C;
}

/**
 * The loader batch as DETR's inputs: NHWC images, the padding mask (true at padding) and the targets without
 * crowd regions (DETR trains on iscrowd = 0 only; the evaluator still sees them).
 */
export function detrInputs(batch: Batch): { images: tf.Tensor4D; mask: tf.Tensor3D; targets: DetectionTarget[] } {
  const { batchSize: b, height: h, width: w } = batch;
  const images = tf.tensor4d(batch.images, [b, h, w, 3]);
  const mask = tf.tensor3d(
    Uint8Array.from(batch.pixelMask, (v) => (v ? 0 : 1)),
    [b, h, w],
    'bool',
  );
  const targets = batch.targets.map((t) => {
    const keep = Array.from(t.iscrowd, (c, i) => (c ? -1 : i)).filter((i) => i >= 0);
    return {
      labels: Int32Array.from(keep, (i) => t.labels[i]),
      boxes: Float32Array.from(keep.flatMap((i) => Array.from(t.boxes.subarray(4 * i, 4 * i + 4)))),
    };
  });
  return { images, mask, targets };
}

/** Both DETRs keep their ResNet under `backbone.0.body` (upstream's Joiner of backbone and position embedding). */
const DETR_BACKBONE = {
  prefix: 'backbone.0.body.',
  shape: (config: { backbone: BackboneConfig }) => config.backbone,
};

/** Upstream's cls_loss_coef and set_cost_class: 2 with Deformable DETR's focal loss, 1 with DETR's softmax. */
const CLS_COEF = { focal: 2, softmax: 1 } as const;

function detrDetector(
  model: DeformableDETR | DETR,
  numClasses: number,
  kind: ClassificationKind,
  loss: LossOptions = {},
): Detector {
  // As upstream, the loss weight and the matching cost are separate: --cls-loss-coef changes only the loss.
  const criterion = new SetCriterion({
    numClasses,
    kind,
    weightCe: loss.clsLossCoef ?? CLS_COEF[kind],
    matcher: { costClass: CLS_COEF[kind] },
  });
  return {
    model,
    rngs: () => ({ noise: model.noise.rng }),
    restoreRngs: (states) => model.noise.restore(states.noise),
    paramGroups: (o) =>
      paramGroups(model, { backbone: o.lrBackbone, linearProj: o.lrLinearProj, freezeBackboneStem: o.freezeStem }),
    loss(batch) {
      const { images, mask, targets } = detrInputs(batch);
      return criterion.forward(model.forward(images, mask), targets);
    },
    detect(batch) {
      const { images, mask } = detrInputs(batch);
      const outputs = model.forward(images, mask);
      const detections = postProcess(
        outputs,
        batch.targets.map((t) => t.origSize),
        { kind },
      );
      disposeOutputs(outputs);
      tf.dispose([images, mask]);
      return detections;
    },
  };
}

export const deformableDetr: DetectorKind<DeformableDetrConfig> = {
  name: 'deformable-detr',
  label: 'Deformable DETR',
  presets: ['small', 'r50', 'tiny'],
  variants: ['multiscale', 'single-scale', 'refine', 'two-stage'],
  config({ preset, variant, numClasses, seed }) {
    const base =
      preset === 'r50'
        ? DEFORMABLE_DETR_R50
        : preset === 'tiny'
          ? { ...DEFORMABLE_DETR_SMALL, ...TINY, encNPoints: 2, decNPoints: 2, groupNormGroups: 4 }
          : DEFORMABLE_DETR_SMALL;
    return {
      ...base,
      numClasses,
      seed,
      numFeatureLevels: variant === 'single-scale' ? 1 : base.numFeatureLevels,
      withBoxRefine: variant === 'refine' || variant === 'two-stage',
      twoStage: variant === 'two-stage',
    };
  },
  validate: (config, source) =>
    validateDeformableDetrConfig(
      checkStored(`DeformableDETR (${source})`, config, { ...BOUNDS, ...DEFORMABLE_BOUNDS }),
    ),
  clsLossCoef: CLS_COEF.focal,
  backbone: DETR_BACKBONE,
  numClasses: (config) => config.numClasses,
  build: (config, loss) => detrDetector(new DeformableDETR(config), config.numClasses, 'focal', loss),
};

export const detr: DetectorKind<DetrConfig> = {
  name: 'detr',
  label: 'DETR',
  presets: ['small', 'r50', 'tiny'],
  variants: ['default'],
  config: ({ preset, numClasses, seed }) => ({
    ...(preset === 'r50' ? DETR_R50 : preset === 'tiny' ? { ...DETR_SMALL, ...TINY } : DETR_SMALL),
    numClasses,
    seed,
  }),
  validate: (config, source) => validateDetrConfig(checkStored(`DETR (${source})`, config, BOUNDS)),
  clsLossCoef: CLS_COEF.softmax,
  backbone: DETR_BACKBONE,
  numClasses: (config) => config.numClasses,
  build: (config, loss) => detrDetector(new DETR(config), config.numClasses, 'softmax', loss),
};
