import type { FasterRcnnConfig } from '../src/index';

/** The paper's ablation rows as changes to FASTER_RCNN_SMALL. */
export const VARIANTS: Record<string, (c: FasterRcnnConfig) => FasterRcnnConfig> = {
  plain: (c) => c,
  'dcnv1-c3c5': (c) => ({ ...c, dcn: { stages: 'c3-c5', version: 1, deformGroups: 1 } }),
  'dcnv2-c3c5': (c) => ({ ...c, dcn: { stages: 'c3-c5', version: 2, deformGroups: 1 } }),
  'dcnv2-mdpool': (c) => ({
    ...c,
    dcn: { stages: 'c3-c5', version: 2, deformGroups: 1 },
    roi: { ...c.roi, pooling: 'mdpool' },
  }),
  'dcnv2-mdpool-mimic': (c) => ({
    ...c,
    dcn: { stages: 'c3-c5', version: 2, deformGroups: 1 },
    roi: { ...c.roi, pooling: 'mdpool' },
    mimic: { cropSize: 64, roisPerImage: 4, lossWeight: 1 },
  }),
};

export const VARIANT_LABELS: Record<string, string> = {
  plain: 'plain (RoIAlign)',
  'dcnv1-c3c5': 'DCNv1 c3-c5',
  'dcnv2-c3c5': 'DCNv2 c3-c5',
  'dcnv2-mdpool': 'DCNv2 c3-c5 + mdpool',
  'dcnv2-mdpool-mimic': 'DCNv2 c3-c5 + mdpool + mimicking',
};
