/**
 * A shapes detection world with the generator's options the detection app does not expose (fewer objects per
 * image, no crowd regions), written once in COCO layout; train on it with the app's `--coco <printed root>`.
 * The convergence study uses it as the "smaller configuration" in which plain DETR leaves its slow phase.
 *
 *   npx tsx scripts/shapes_world.ts --out ../../apps/detect/runs/data --max-objects 2 --crowd 0
 */
import { parseArgs } from 'node:util';
import { ensureShapesDataset } from '@deformjs/datasets';

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: 'runs/data' },
    size: { type: 'string', default: '128' },
    'train-count': { type: 'string', default: '400' },
    'val-count': { type: 'string', default: '80' },
    'data-seed': { type: 'string', default: '0' },
    'max-objects': { type: 'string', default: '5' },
    crowd: { type: 'string', default: '0.08' },
  },
});
const root = await ensureShapesDataset('detection', values.out!, {
  seed: Number(values['data-seed']),
  count: Number(values['train-count']),
  valCount: Number(values['val-count']),
  size: Number(values.size),
  maxObjects: Number(values['max-objects']),
  crowdProbability: Number(values.crowd),
});
console.log(root);
