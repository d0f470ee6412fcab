import { describe, expect, it } from 'vitest';
import {
  ABLATION_VARIANTS,
  FASTER_RCNN_SMALL,
  FASTER_RCNN_TINY,
  validateFasterRcnnConfig,
  SPARSE_VARIANTS,
  withAblationVariant,
  withSparseVariant,
  type AblationVariant,
  type SparseVariant,
} from '../src/index';

describe('presets and ablation variants', () => {
  it('every ablation row of every small preset is a valid configuration with the paper row’s changes', () => {
    const rows = Object.keys(ABLATION_VARIANTS) as AblationVariant[];
    for (const base of [FASTER_RCNN_SMALL, FASTER_RCNN_TINY]) {
      const configs = rows.map((row) => validateFasterRcnnConfig(withAblationVariant(base, row)));
      expect(configs.map((c) => [c.dcn.stages, c.dcn.version, c.roi.pooling, c.mimic !== null])).toEqual([
        ['none', base.dcn.version, 'roiAlign', false],
        ['c3-c5', 1, 'roiAlign', false],
        ['c3-c5', 2, 'roiAlign', false],
        ['c3-c5', 2, 'mdpool', false],
        ['c3-c5', 2, 'mdpool', true],
      ]);
      // Everything else is the preset's.
      for (const c of configs) expect({ ...c, dcn: base.dcn, roi: base.roi, mimic: base.mimic }).toEqual(base);
    }
  });

  it('an unknown variant is refused by name', () => {
    expect(() => withAblationVariant(FASTER_RCNN_SMALL, 'dcnv3' as AblationVariant)).toThrow(
      /withAblationVariant.*variant.*one of plain, dcnv1-c3c5, dcnv2-c3c5, dcnv2-mdpool, dcnv2-mdpool-mimic.*dcnv3/,
    );
  });

  it('sparse variants: a dense or sparse bottleneck ResNet-50 at width 8 with the row’s loss weight; bad sparse configs are refused by field', () => {
    const rows = Object.keys(SPARSE_VARIANTS) as SparseVariant[];
    const configs = rows.map((row) => validateFasterRcnnConfig(withSparseVariant(FASTER_RCNN_SMALL, row)));
    expect(configs.map((c) => c.backbone)).toEqual([
      { ...FASTER_RCNN_SMALL.backbone, depth: 50, width: 8, sparse: null },
      { ...FASTER_RCNN_SMALL.backbone, depth: 50, width: 8, sparse: { lossWeight: 0.1 } },
      { ...FASTER_RCNN_SMALL.backbone, depth: 50, width: 8, sparse: { lossWeight: 0.5 } },
      { ...FASTER_RCNN_SMALL.backbone, depth: 50, width: 8, sparse: { lossWeight: 2 } },
    ]);
    expect(() => withSparseVariant(FASTER_RCNN_SMALL, 'sparse-w9' as SparseVariant)).toThrow(
      /withSparseVariant.*variant.*one of r50-dense, sparse-w0.1.*sparse-w9/,
    );
    const sparse = { ...FASTER_RCNN_SMALL.backbone, sparse: { lossWeight: 0.1 } };
    expect(() => validateFasterRcnnConfig({ ...FASTER_RCNN_SMALL, backbone: sparse })).toThrow(
      /FasterRCNN.*config.backbone.depth.*sparse.*50, 101.*18/,
    );
    expect(() =>
      validateFasterRcnnConfig({
        ...FASTER_RCNN_SMALL,
        backbone: { ...sparse, depth: 50, sparse: { lossWeight: -1 } },
      }),
    ).toThrow(/FasterRCNN.*config.backbone.sparse.*lossWeight.*-1/);
    expect(() =>
      validateFasterRcnnConfig({
        ...FASTER_RCNN_SMALL,
        backbone: { ...sparse, depth: 50 },
        dcn: { ...FASTER_RCNN_SMALL.dcn, stages: 'c3-c5' },
      }),
    ).toThrow(/FasterRCNN.*config.dcn.stages.*'none' with a sparse backbone.*c3-c5/);
  });
});
