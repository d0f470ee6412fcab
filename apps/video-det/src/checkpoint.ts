import { readFileSync } from 'node:fs';
import { decodeCheckpoint, readCheckpointInfo } from '@deformjs/weights';
import type { VideoDesign, VideoDesignKind } from './design';
import { designKind } from './designs';

/** What a checkpoint's `config` holds besides the weights: enough to rebuild the design and use it alone. */
export interface CheckpointConfig {
  design: string;
  config: unknown;
  /** Class names by label. */
  classes: string[];
}

/**
 * Rebuilds a trained design from a checkpoint: its configuration is checked (types and sane bounds) before the
 * model is built, so a crafted file cannot make it allocate gigabytes. `expect` refuses a checkpoint of another
 * design or class count, saying which.
 */
export function loadDesign(
  path: string,
  expect: { design?: string; numClasses?: number } = {},
): { kind: VideoDesignKind; design: VideoDesign; saved: CheckpointConfig } {
  const bytes = new Uint8Array(readFileSync(path));
  const saved = readCheckpointInfo(bytes, path).config as Partial<CheckpointConfig> | null;
  if (!saved || typeof saved.design !== 'string' || !Array.isArray(saved.classes))
    throw new Error(`${path} is not a checkpoint of this app's trainer (no design configuration inside)`);
  const kind = designKind(saved.design);
  const config = kind.validate(saved.config, path);
  const numClasses = kind.numClasses(config);
  if (expect.design !== undefined && expect.design !== kind.name)
    throw new Error(`${path} holds a ${kind.label} model (${kind.name}), not the ${expect.design} asked for`);
  if (saved.classes.length !== numClasses)
    throw new Error(`${path}: the model has ${numClasses} classes but the checkpoint names ${saved.classes.length}`);
  if (expect.numClasses !== undefined && expect.numClasses !== numClasses)
    throw new Error(
      `${path} detects ${numClasses} classes (${saved.classes.join(', ')}), but the data has ${expect.numClasses}`,
    );
  const design = kind.build(config);
  try {
    decodeCheckpoint(bytes, { model: design.model }, path);
  } catch (error) {
    design.model.dispose();
    throw error;
  }
  return { kind, design, saved: saved as CheckpointConfig };
}
