import { argumentError, assertInteger, assertOneOf } from '@deformjs/core';
import { NORM_KINDS, type NormKind } from '@deformjs/nn';

/** Where DCNv2's ablation puts deformable convs: nowhere, or every 3x3 conv of conv3-conv5 (layer2..layer4). */
export type DcnStages = 'none' | 'c3-c5';

export interface FasterRcnnConfig {
  /**
   * `arch` 'resnet' (the default): torchvision's ResNet, `width` 64 is the real one; 'frozen' batch norm as
   * torchvision's detection backbones. 'mobilenet': @deformjs/nn's MobileNet v1 with `width` stem channels (32 is
   * the real one; `depth` is not used), the light feature network of the mobile video detector (arXiv 1804.05830).
   */
  backbone: {
    arch?: 'resnet' | 'mobilenet';
    depth: 18 | 34 | 50 | 101;
    width: number;
    /** @deformjs/nn's `NormKind`: 'batch', 'frozen' or 'instance' (the sparse backbone: 'batch' or 'frozen'). */
    norm: NormKind;
    /**
     * Spatially adaptive inference (arXiv 2003.08866): a SparseResNet (depth 50 or 101) whose bottlenecks sample
     * where conv1 and conv2 are computed, trained with its sparsity loss times `lossWeight` (the reference's
     * sparse_loss_weight). Absent or null: the dense ResNet.
     */
    sparse?: { lossWeight: number } | null;
  };
  /** Deformable convs in the backbone: stages, v1 (DeformConv2d) or v2 (modulated), deformable groups. */
  dcn: { stages: DcnStages; version: 1 | 2; deformGroups: 1 | 4 };
  fpnChannels: number;
  /** Foreground classes; the box predictor scores numClasses + 1 (0 is background) as torchvision. */
  numClasses: number;
  /** One anchor size per FPN level P2..P6 (torchvision: 32..512) and the aspect ratios used at every level. */
  anchorSizes: number[];
  aspectRatios: number[];
  rpn: {
    preNmsTopNTrain: number;
    preNmsTopNTest: number;
    postNmsTopNTrain: number;
    postNmsTopNTest: number;
    nmsThresh: number;
    fgIouThresh: number;
    bgIouThresh: number;
    batchSizePerImage: number;
    positiveFraction: number;
  };
  roi: {
    /** 'roiAlign' (torchvision's MultiScaleRoIAlign) or 'mdpool' (modulated deformable RoI pooling, mmcv's pack). */
    pooling: 'roiAlign' | 'mdpool';
    outputSize: number;
    samplingRatio: number;
    /** FPN level mapper: a RoI of sqrt(area) = canonicalScale goes to level canonicalLevel (FPN paper eq. 1). */
    canonicalScale: number;
    canonicalLevel: number;
    /** Hidden width of mdpool's offset_fc / mask_fc (mmcv's deform_fc_channels). */
    deformFcChannels: number;
    fgIouThresh: number;
    bgIouThresh: number;
    batchSizePerImage: number;
    positiveFraction: number;
    representationSize: number;
    scoreThresh: number;
    nmsThresh: number;
    detectionsPerImage: number;
  };
  /**
   * R-CNN feature mimicking (training only): `cropSize` px crops of up to `roisPerImage` foreground RoIs per image
   * go through the shared backbone and box head; cosine mimic loss and the R-CNN branch's cross-entropy, each
   * times `lossWeight`. null: off.
   */
  mimic: { cropSize: number; roisPerImage: number; lossWeight: number } | null;
  seed: number;
}

/** torchvision's fasterrcnn_resnet50_fpn (frozen batch norm, COCO's 91 ids), the paper's scale. */
export const FASTER_RCNN_R50_FPN: FasterRcnnConfig = {
  backbone: { depth: 50, width: 64, norm: 'frozen' },
  dcn: { stages: 'none', version: 2, deformGroups: 1 },
  fpnChannels: 256,
  numClasses: 90,
  anchorSizes: [32, 64, 128, 256, 512],
  aspectRatios: [0.5, 1, 2],
  rpn: {
    preNmsTopNTrain: 2000,
    preNmsTopNTest: 1000,
    postNmsTopNTrain: 2000,
    postNmsTopNTest: 1000,
    nmsThresh: 0.7,
    fgIouThresh: 0.7,
    bgIouThresh: 0.3,
    batchSizePerImage: 256,
    positiveFraction: 0.5,
  },
  roi: {
    pooling: 'roiAlign',
    outputSize: 7,
    samplingRatio: 2,
    canonicalScale: 224,
    canonicalLevel: 4,
    deformFcChannels: 1024,
    fgIouThresh: 0.5,
    bgIouThresh: 0.5,
    batchSizePerImage: 512,
    positiveFraction: 0.25,
    representationSize: 1024,
    scoreThresh: 0.05,
    nmsThresh: 0.5,
    detectionsPerImage: 100,
  },
  mimic: null,
  seed: 0,
};

/**
 * A configuration that trains on two CPU cores on 128 px images: ResNet-18 at width 16 with trainable batch norm
 * (it starts from random weights), FPN 64, every length scale (anchors, canonical RoI scale) 1/4 of COCO's since
 * the objects are about 1/4 the size, fewer proposals and RoIs, a 256-wide box head.
 */
export const FASTER_RCNN_SMALL: FasterRcnnConfig = {
  backbone: { depth: 18, width: 16, norm: 'batch' },
  dcn: { stages: 'none', version: 2, deformGroups: 1 },
  fpnChannels: 64,
  numClasses: 5,
  anchorSizes: [8, 16, 32, 64, 128],
  aspectRatios: [0.5, 1, 2],
  rpn: {
    preNmsTopNTrain: 600,
    preNmsTopNTest: 300,
    postNmsTopNTrain: 300,
    postNmsTopNTest: 100,
    nmsThresh: 0.7,
    fgIouThresh: 0.7,
    bgIouThresh: 0.3,
    batchSizePerImage: 256,
    positiveFraction: 0.5,
  },
  roi: {
    pooling: 'roiAlign',
    outputSize: 7,
    samplingRatio: 2,
    canonicalScale: 56,
    canonicalLevel: 4,
    deformFcChannels: 128,
    fgIouThresh: 0.5,
    bgIouThresh: 0.5,
    batchSizePerImage: 128,
    positiveFraction: 0.25,
    representationSize: 256,
    scoreThresh: 0.05,
    nmsThresh: 0.5,
    detectionsPerImage: 100,
  },
  mimic: null,
  seed: 0,
};

/**
 * The smallest model that still has every part (ResNet-18 at width 4, FPN 8, a few dozen proposals and RoIs, a
 * 16-wide head): for smoke tests of the trainers, not for results.
 */
export const FASTER_RCNN_TINY: FasterRcnnConfig = {
  ...FASTER_RCNN_SMALL,
  backbone: { depth: 18, width: 4, norm: 'batch' },
  fpnChannels: 8,
  rpn: {
    ...FASTER_RCNN_SMALL.rpn,
    preNmsTopNTrain: 64,
    preNmsTopNTest: 32,
    postNmsTopNTrain: 32,
    postNmsTopNTest: 16,
    batchSizePerImage: 32,
  },
  roi: {
    ...FASTER_RCNN_SMALL.roi,
    deformFcChannels: 8,
    batchSizePerImage: 16,
    representationSize: 16,
    detectionsPerImage: 20,
  },
};

/**
 * FASTER_RCNN_TINY with a MobileNet v1 backbone of stem width 4 (C2..C5 of 16, 32, 64, 128 channels): the light
 * feature network of the mobile video detector at toy size. Its norm is 'instance' (per-image statistics in
 * training and evaluation): trained from scratch one image per step, batch norm learns with one image's statistics
 * and is then evaluated with running averages, which cost MobileNet's deep stack of 27 norms most of its accuracy
 * (apps/video-det's README has the measurement).
 */
export const FASTER_RCNN_MOBILE_TINY: FasterRcnnConfig = {
  ...FASTER_RCNN_TINY,
  backbone: { arch: 'mobilenet', depth: 18, width: 4, norm: 'instance' },
};

/** DCNv2's ablation rows (the paper's Table 1 at our scale): name -> label. */
export const ABLATION_VARIANTS = {
  plain: 'plain (RoIAlign)',
  'dcnv1-c3c5': 'DCNv1 c3-c5',
  'dcnv2-c3c5': 'DCNv2 c3-c5',
  'dcnv2-mdpool': 'DCNv2 c3-c5 + mdpool',
  'dcnv2-mdpool-mimic': 'DCNv2 c3-c5 + mdpool + mimicking',
} as const;
export type AblationVariant = keyof typeof ABLATION_VARIANTS;

/**
 * Spatially adaptive inference (arXiv 2003.08866) at our scale: the dense bottleneck ResNet-50 and SparseResNet-50
 * at several sparsity-loss weights (higher: sparser), at width 8 (as wide as the small preset's ResNet-18 at its
 * last stage): name -> label.
 */
export const SPARSE_VARIANTS = {
  'r50-dense': 'ResNet-50 dense',
  'sparse-w0.1': 'SparseResNet-50, w 0.1',
  'sparse-w0.5': 'SparseResNet-50, w 0.5',
  'sparse-w2': 'SparseResNet-50, w 2',
} as const;
export type SparseVariant = keyof typeof SPARSE_VARIANTS;

/** `base` with the backbone of a `SPARSE_VARIANTS` row (dense or sparse ResNet-50 at width 8, plain convs). */
export function withSparseVariant(base: FasterRcnnConfig, variant: SparseVariant): FasterRcnnConfig {
  if (!(variant in SPARSE_VARIANTS))
    throw argumentError('withSparseVariant', 'variant', `one of ${Object.keys(SPARSE_VARIANTS).join(', ')}`, variant);
  const lossWeight = variant === 'r50-dense' ? null : Number(variant.slice('sparse-w'.length));
  return {
    ...base,
    backbone: { ...base.backbone, depth: 50, width: 8, sparse: lossWeight === null ? null : { lossWeight } },
    dcn: { ...base.dcn, stages: 'none' },
  };
}

/**
 * `base` turned into an ablation row: deformable convs (v1 or v2, one deformable group) in every 3x3 conv of
 * conv3-conv5, mdpool in the box head, R-CNN feature mimicking with 64 px crops (see the README for why 64).
 */
export function withAblationVariant(base: FasterRcnnConfig, variant: AblationVariant): FasterRcnnConfig {
  if (!(variant in ABLATION_VARIANTS))
    throw argumentError(
      'withAblationVariant',
      'variant',
      `one of ${Object.keys(ABLATION_VARIANTS).join(', ')}`,
      variant,
    );
  if (variant === 'plain') return base;
  return {
    ...base,
    dcn: { stages: 'c3-c5', version: variant === 'dcnv1-c3c5' ? 1 : 2, deformGroups: 1 },
    roi: { ...base.roi, pooling: variant.includes('mdpool') ? 'mdpool' : base.roi.pooling },
    mimic: variant.endsWith('mimic') ? { cropSize: 64, roisPerImage: 4, lossWeight: 1 } : null,
  };
}

/** Throws an error naming the field when `config` cannot build a model. */
export function validateFasterRcnnConfig(config: FasterRcnnConfig): FasterRcnnConfig {
  const op = 'FasterRCNN';
  if (config === null || typeof config !== 'object')
    throw argumentError(op, 'config', 'a configuration object', config);
  const { backbone, dcn, rpn, roi, mimic } = config;
  for (const [name, value] of Object.entries({ backbone, dcn, rpn, roi })) {
    if (value === null || typeof value !== 'object') throw argumentError(op, `config.${name}`, 'an object', value);
  }
  const arch = assertOneOf(op, 'config.backbone.arch', backbone.arch ?? 'resnet', ['resnet', 'mobilenet']);
  if (arch === 'resnet') assertOneOf(op, 'config.backbone.depth', backbone.depth, [18, 34, 50, 101]);
  if (arch === 'mobilenet' && dcn.stages !== 'none')
    throw argumentError(
      op,
      'config.dcn.stages',
      "'none' with the MobileNet backbone (no 3x3 convs to deform)",
      dcn.stages,
    );
  assertInteger(op, 'config.backbone.width', backbone.width, 1);
  assertOneOf(op, 'config.backbone.norm', backbone.norm, backbone.sparse != null ? ['frozen', 'batch'] : NORM_KINDS);
  if (backbone.sparse != null) {
    if (typeof backbone.sparse !== 'object' || !(backbone.sparse.lossWeight >= 0))
      throw argumentError(
        op,
        'config.backbone.sparse',
        'null or { lossWeight: a number >= 0 }',
        JSON.stringify(backbone.sparse),
      );
    assertOneOf(op, 'config.backbone.arch (sparse backbones are bottleneck ResNets)', arch, ['resnet']);
    assertOneOf(op, 'config.backbone.depth (sparse backbones are bottleneck ResNets)', backbone.depth, [50, 101]);
    if (dcn.stages !== 'none')
      throw argumentError(op, 'config.dcn.stages', "'none' with a sparse backbone", dcn.stages);
  }
  assertOneOf(op, 'config.dcn.stages', dcn.stages, ['none', 'c3-c5']);
  assertOneOf(op, 'config.dcn.version', dcn.version, [1, 2]);
  assertOneOf(op, 'config.dcn.deformGroups', dcn.deformGroups, [1, 4]);
  assertInteger(op, 'config.fpnChannels', config.fpnChannels, 1);
  assertInteger(op, 'config.numClasses', config.numClasses, 1);
  if (!Array.isArray(config.anchorSizes) || config.anchorSizes.length !== 5 || !config.anchorSizes.every((s) => s > 0))
    throw argumentError(op, 'config.anchorSizes', 'five positive sizes (P2..P6)', config.anchorSizes);
  if (
    !Array.isArray(config.aspectRatios) ||
    config.aspectRatios.length === 0 ||
    !config.aspectRatios.every((r) => r > 0)
  )
    throw argumentError(op, 'config.aspectRatios', 'positive ratios', config.aspectRatios);
  for (const key of [
    'preNmsTopNTrain',
    'preNmsTopNTest',
    'postNmsTopNTrain',
    'postNmsTopNTest',
    'batchSizePerImage',
  ] as const)
    assertInteger(op, `config.rpn.${key}`, rpn[key], 1);
  for (const key of [
    'batchSizePerImage',
    'outputSize',
    'representationSize',
    'detectionsPerImage',
    'deformFcChannels',
  ] as const)
    assertInteger(op, `config.roi.${key}`, roi[key], 1);
  assertOneOf(op, 'config.roi.pooling', roi.pooling, ['roiAlign', 'mdpool']);
  for (const [name, value] of [
    ['rpn.positiveFraction', rpn.positiveFraction],
    ['roi.positiveFraction', roi.positiveFraction],
    ['rpn.nmsThresh', rpn.nmsThresh],
    ['roi.nmsThresh', roi.nmsThresh],
  ] as const) {
    if (!(value >= 0 && value <= 1)) throw argumentError(op, `config.${name}`, 'a number in [0, 1]', value);
  }
  if (!(rpn.bgIouThresh <= rpn.fgIouThresh))
    throw argumentError(op, 'config.rpn.bgIouThresh', `<= fgIouThresh (${rpn.fgIouThresh})`, rpn.bgIouThresh);
  if (!(roi.bgIouThresh <= roi.fgIouThresh))
    throw argumentError(op, 'config.roi.bgIouThresh', `<= fgIouThresh (${roi.fgIouThresh})`, roi.bgIouThresh);
  if (mimic !== null) {
    if (typeof mimic !== 'object')
      throw argumentError(op, 'config.mimic', 'null or { cropSize, roisPerImage, lossWeight }', mimic);
    assertInteger(op, 'config.mimic.cropSize', mimic.cropSize, 32);
    assertInteger(op, 'config.mimic.roisPerImage', mimic.roisPerImage, 1);
    if (!(mimic.lossWeight >= 0)) throw argumentError(op, 'config.mimic.lossWeight', 'a number >= 0', mimic.lossWeight);
  }
  return config;
}
