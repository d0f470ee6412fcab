import {
  DEFORMABLE_DETR_R50,
  DEFORMABLE_DETR_SMALL,
  DETR,
  DETR_R50,
  DETR_SMALL,
  DeformableDETR,
  SetCriterion,
  type ClassificationKind,
  type DeformableDetrConfig,
  type DetectionModel,
  type DetrConfig,
} from '@deformjs/deformable-detr';

export const MODEL_KINDS = ['deformable', 'detr'] as const;
export type ModelKind = (typeof MODEL_KINDS)[number];
export const VARIANTS = ['multiscale', 'single-scale', 'refine', 'two-stage'] as const;
export type Variant = (typeof VARIANTS)[number];
export const PRESETS = ['small', 'r50'] as const;
export type Preset = (typeof PRESETS)[number];

/** What a checkpoint saves to rebuild its model. */
export type ModelSpec = { kind: 'deformable'; config: DeformableDetrConfig } | { kind: 'detr'; config: DetrConfig };

export function modelSpec(
  kind: ModelKind,
  preset: Preset,
  variant: Variant,
  numClasses: number,
  seed: number,
): ModelSpec {
  if (kind === 'detr') return { kind, config: { ...(preset === 'small' ? DETR_SMALL : DETR_R50), numClasses, seed } };
  const base = preset === 'small' ? DEFORMABLE_DETR_SMALL : DEFORMABLE_DETR_R50;
  const config: DeformableDetrConfig = {
    ...base,
    numClasses,
    seed,
    numFeatureLevels: variant === 'single-scale' ? 1 : base.numFeatureLevels,
    withBoxRefine: variant === 'refine' || variant === 'two-stage',
    twoStage: variant === 'two-stage',
  };
  return { kind, config };
}

export function buildModel(spec: ModelSpec): {
  model: DetectionModel;
  criterion: SetCriterion;
  classification: ClassificationKind;
} {
  if (spec.kind === 'detr') {
    return {
      model: new DETR(spec.config),
      criterion: new SetCriterion({ numClasses: spec.config.numClasses, kind: 'softmax' }),
      classification: 'softmax',
    };
  }
  return {
    model: new DeformableDETR(spec.config),
    criterion: new SetCriterion({ numClasses: spec.config.numClasses, kind: 'focal' }),
    classification: 'focal',
  };
}
