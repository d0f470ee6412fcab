import { describe, expect, it } from 'vitest';
import {
  ABLATION_VARIANTS,
  FASTER_RCNN_SMALL,
  FASTER_RCNN_TINY,
  validateFasterRcnnConfig,
  withAblationVariant,
  type AblationVariant,
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
});
