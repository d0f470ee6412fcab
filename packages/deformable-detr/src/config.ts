import { argumentError, assertInteger, assertOneOf } from '@deformjs/core';

/** The backbone: torchvision's ResNet (frozen batch norm, as DETR), `width` 64 being the real one. */
export interface BackboneConfig {
  depth: 18 | 34 | 50 | 101;
  width: number;
}

/**
 * Deformable DETR as the official `main.py` arguments, in plain data (what a run's config JSON saves).
 * `numFeatureLevels` 1 is the single-scale variant (C5 only), 4 the multi-scale one (C3, C4, C5 and a
 * stride-2 conv on C5).
 */
export interface DeformableDetrConfig {
  backbone: BackboneConfig;
  hiddenDim: number;
  nHeads: number;
  encLayers: number;
  decLayers: number;
  dimFeedforward: number;
  dropout: number;
  numFeatureLevels: number;
  encNPoints: number;
  decNPoints: number;
  numQueries: number;
  /** Classes scored by the sigmoid head (labels 0..numClasses-1). */
  numClasses: number;
  withBoxRefine: boolean;
  twoStage: boolean;
  /** Groups of the input projections' GroupNorm (32 upstream; must divide hiddenDim). */
  groupNormGroups: number;
  /** Seeds the initialisation and dropout. */
  seed: number;
}

/** Plain DETR (arXiv 2005.12872), the baseline: C5, global attention, softmax classes plus "no object". */
export interface DetrConfig {
  backbone: BackboneConfig;
  hiddenDim: number;
  nHeads: number;
  encLayers: number;
  decLayers: number;
  dimFeedforward: number;
  dropout: number;
  numQueries: number;
  numClasses: number;
  seed: number;
}

/** The paper's configuration: R50, 6+6 layers, d 256, 8 heads, 4 levels x 4 points, 300 queries, COCO's 91 ids. */
export const DEFORMABLE_DETR_R50: DeformableDetrConfig = {
  backbone: { depth: 50, width: 64 },
  hiddenDim: 256,
  nHeads: 8,
  encLayers: 6,
  decLayers: 6,
  dimFeedforward: 1024,
  dropout: 0.1,
  numFeatureLevels: 4,
  encNPoints: 4,
  decNPoints: 4,
  numQueries: 300,
  numClasses: 91,
  withBoxRefine: false,
  twoStage: false,
  groupNormGroups: 32,
  seed: 0,
};

/** A configuration that trains on two CPU cores: ResNet-18 at quarter width, d 64, 3+3 layers, 30 queries. */
export const DEFORMABLE_DETR_SMALL: DeformableDetrConfig = {
  backbone: { depth: 18, width: 16 },
  hiddenDim: 64,
  nHeads: 4,
  encLayers: 3,
  decLayers: 3,
  dimFeedforward: 128,
  dropout: 0.1,
  numFeatureLevels: 4,
  encNPoints: 4,
  decNPoints: 4,
  numQueries: 30,
  numClasses: 5,
  withBoxRefine: false,
  twoStage: false,
  groupNormGroups: 16,
  seed: 0,
};

/** DETR's R50 configuration (6+6 layers, d 256, FFN 2048, 100 queries). */
export const DETR_R50: DetrConfig = {
  backbone: { depth: 50, width: 64 },
  hiddenDim: 256,
  nHeads: 8,
  encLayers: 6,
  decLayers: 6,
  dimFeedforward: 2048,
  dropout: 0.1,
  numQueries: 100,
  numClasses: 91,
  seed: 0,
};

/** Plain DETR sized like DEFORMABLE_DETR_SMALL, for the convergence comparison. */
export const DETR_SMALL: DetrConfig = {
  backbone: { depth: 18, width: 16 },
  hiddenDim: 64,
  nHeads: 4,
  encLayers: 3,
  decLayers: 3,
  dimFeedforward: 128,
  dropout: 0.1,
  numQueries: 30,
  numClasses: 5,
  seed: 0,
};

function checkCommon(op: string, c: DeformableDetrConfig | DetrConfig): void {
  if (c === null || typeof c !== 'object') throw argumentError(op, 'config', 'a configuration object', c);
  if (c.backbone === null || typeof c.backbone !== 'object')
    throw argumentError(op, 'config.backbone', '{ depth, width }', c.backbone);
  assertOneOf(op, 'config.backbone.depth', c.backbone.depth, [18, 34, 50, 101]);
  assertInteger(op, 'config.backbone.width', c.backbone.width, 1);
  for (const key of [
    'hiddenDim',
    'nHeads',
    'encLayers',
    'decLayers',
    'dimFeedforward',
    'numQueries',
    'numClasses',
  ] as const) {
    assertInteger(op, `config.${key}`, c[key], key === 'encLayers' ? 0 : 1);
  }
  assertInteger(op, 'config.seed', c.seed, 0);
  if (c.hiddenDim % c.nHeads !== 0)
    throw argumentError(op, 'config.nHeads', `a divisor of hiddenDim = ${c.hiddenDim}`, c.nHeads);
  if (c.hiddenDim % 2 !== 0)
    throw argumentError(op, 'config.hiddenDim', 'an even number (half of it per sine axis)', c.hiddenDim);
  if (!(c.dropout >= 0 && c.dropout < 1)) throw argumentError(op, 'config.dropout', 'a rate in [0, 1)', c.dropout);
}

/** Checks every field, naming the first bad one. Returns the config. */
export function validateDeformableDetrConfig(c: DeformableDetrConfig): DeformableDetrConfig {
  const op = 'DeformableDETR';
  checkCommon(op, c);
  assertInteger(op, 'config.numFeatureLevels', c.numFeatureLevels, 1);
  assertInteger(op, 'config.encNPoints', c.encNPoints, 1);
  assertInteger(op, 'config.decNPoints', c.decNPoints, 1);
  assertInteger(op, 'config.groupNormGroups', c.groupNormGroups, 1);
  if (c.numFeatureLevels === 2)
    throw argumentError(op, 'config.numFeatureLevels', '1 (C5) or at least 3 (C3..C5 and extra stride-2 levels)', 2);
  if (c.hiddenDim % c.groupNormGroups !== 0)
    throw argumentError(op, 'config.groupNormGroups', `a divisor of hiddenDim = ${c.hiddenDim}`, c.groupNormGroups);
  if (typeof c.withBoxRefine !== 'boolean')
    throw argumentError(op, 'config.withBoxRefine', 'a boolean', c.withBoxRefine);
  if (typeof c.twoStage !== 'boolean') throw argumentError(op, 'config.twoStage', 'a boolean', c.twoStage);
  if (c.twoStage && c.encLayers < 1)
    throw argumentError(
      op,
      'config.encLayers',
      'at least 1 for two-stage (proposals come from the encoder)',
      c.encLayers,
    );
  return c;
}

export function validateDetrConfig(c: DetrConfig): DetrConfig {
  checkCommon('DETR', c);
  return c;
}
