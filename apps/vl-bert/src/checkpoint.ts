import { readFileSync } from 'node:fs';
import type { VLBert, WordPieceTokenizer } from '@deformjs/vl-bert';
import { decodeCheckpoint, readCheckpointInfo } from '@deformjs/weights';
import type { VLData } from './data';
import { TASKS, buildModel, type CheckpointConfig } from './train';

/** Integer fields of a saved model config and their sane bounds (a crafted file must not allocate gigabytes). */
const BOUNDS: Record<string, [number, number]> = {
  hiddenSize: [1, 4096],
  numHiddenLayers: [1, 48],
  numAttentionHeads: [1, 256],
  intermediateSize: [1, 16384],
  maxPositionEmbeddings: [3, 4096],
  roiSize: [1, 32],
  geometryDim: [1, 1024],
  visualDim: [1, 8192],
  regionFeatureDim: [0, 65536],
};

/**
 * Rebuilds a trained model from one of this app's checkpoints: the saved configuration is checked (task,
 * vocabulary, bounded sizes) before the model is built, then the weights are loaded strictly.
 */
export function loadTrainedModel(
  path: string,
  data: VLData,
  tokenizer: WordPieceTokenizer,
): { model: VLBert; config: CheckpointConfig } {
  const bytes = new Uint8Array(readFileSync(path));
  const config = readCheckpointInfo(bytes, path).config as Partial<CheckpointConfig> | null;
  if (!config || !TASKS.includes(config.task as never) || typeof config.model !== 'object' || config.model === null)
    throw new Error(`${path} is not a checkpoint of this app's trainer (no task and model configuration inside)`);
  const model = config.model as unknown as Record<string, unknown>;
  if (model.vocabSize !== tokenizer.vocabSize)
    throw new Error(
      `${path}: the model's vocabulary has ${String(model.vocabSize)} tokens, the tokenizer ${tokenizer.vocabSize}`,
    );
  for (const [key, [min, max]] of Object.entries(BOUNDS)) {
    const v = model[key];
    if (v !== undefined && !(Number.isInteger(v) && (v as number) >= min && (v as number) <= max))
      throw new Error(`${path}: config.model.${key} must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
  }
  const checked = config as CheckpointConfig;
  const built = buildModel(checked, data);
  try {
    decodeCheckpoint(bytes, { model: built }, path);
  } catch (error) {
    built.dispose();
    throw error;
  }
  return { model: built, config: checked };
}
