/** What the analysis scripts share: the shapes-world data flags of a run, its loaders, and its trained model. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataLoader, cocoPaths, ensureShapesDataset, loadCoco } from '@deformjs/datasets';
import { decodeCheckpoint, readCheckpointInfo } from '@deformjs/weights';
import { FasterRCNN, validateFasterRcnnConfig, type FasterRcnnConfig } from '../src/index';

/** parseArgs options of the run's data (pass the flags it was trained with). */
export const DATA_OPTIONS = {
  size: { type: 'string', default: '64' },
  'train-count': { type: 'string', default: '100' },
  'val-count': { type: 'string', default: '80' },
  'data-seed': { type: 'string', default: '0' },
  cache: { type: 'string', default: 'runs/data' },
  batch: { type: 'string', default: '2' },
} as const;

type DataValues = { [K in keyof typeof DATA_OPTIONS]?: string };

/** A split of the run's shapes world in order, normalised, without augmentation. */
export async function shapesLoader(values: DataValues, split: 'train' | 'val', masks = false): Promise<DataLoader> {
  const root = await ensureShapesDataset('detection', values.cache!, {
    seed: Number(values['data-seed']),
    count: Number(values['train-count']),
    valCount: Number(values['val-count']),
    size: Number(values.size),
  });
  return new DataLoader(loadCoco(cocoPaths(root, split)).records, {
    batchSize: Number(values.batch),
    transforms: [{ type: 'normalize' }],
    seed: 0,
    shuffle: false,
    workers: 1,
    masks,
  });
}

/** The Faster R-CNN of an apps/detect run folder (its checkpoint.safetensors), in evaluation mode. */
export function loadRunModel(run: string): FasterRCNN {
  const path = join(run, 'checkpoint.safetensors');
  const bytes = new Uint8Array(readFileSync(path));
  const saved = readCheckpointInfo(bytes, path).config as { detector: string; config: FasterRcnnConfig } | null;
  if (saved?.detector !== 'faster-rcnn') throw new Error(`${path}: not a Faster R-CNN checkpoint of apps/detect`);
  const model = new FasterRCNN(validateFasterRcnnConfig(saved.config));
  decodeCheckpoint(bytes, { model }, path);
  model.eval();
  return model;
}
