import * as tf from '@tensorflow/tfjs-core';
import type { Module, Rng } from '@deformjs/core';
import { readSafetensors, writeSafetensors } from './safetensors';
import { emptyRecord, toTensors, type TensorData } from './tensor_data';

/** An optimizer's state for a checkpoint: its tensors (moments) and JSON-serialisable rest (step counts, hyper-parameters). */
export interface OptimizerState {
  tensors: Record<string, tf.Tensor>;
  meta: unknown;
}

/** What an optimizer (such as @deformjs/nn's AdamW) implements to be checkpointed. */
export interface CheckpointableOptimizer {
  saveState(): OptimizerState;
  /** Takes the tensors' values (copies them); the caller disposes `state.tensors`. */
  loadState(state: OptimizerState): void;
}

export interface TrainingState {
  model: Module;
  optimizer?: CheckpointableOptimizer;
  step: number;
  epoch: number;
  /** Generators to resume (data order, augmentation, dropout), saved by `Rng.state()`. */
  rngs?: Record<string, Rng>;
  /** The run's configuration, any JSON value. */
  config?: unknown;
  /**
   * The training record up to this step (losses, evaluations, options), any JSON value: saved in the same file
   * as the weights, so a kill can never leave a checkpoint and its record out of step.
   */
  record?: unknown;
}

export interface RestoredState {
  step: number;
  epoch: number;
  /** Each saved generator's state: `new Rng(rngStates.data)` continues the sequence. */
  rngStates: Record<string, number[]>;
  config: unknown;
  /** The record saved with the checkpoint (null when none was). */
  record: unknown;
}

const METADATA_KEY = 'deformjs.checkpoint';
const FORMAT = 1;

/**
 * A training checkpoint as one safetensors file: model parameters and buffers under `model.<name>` (in
 * deformjs's layout, so resuming is exact), optimizer tensors under `optimizer.<name>`, and the step, epoch,
 * RNG states, config and optimizer metadata as JSON in the header's `__metadata__`.
 */
export function encodeCheckpoint(state: TrainingState): Uint8Array {
  const tensors: Record<string, tf.Tensor> = {};
  const model = state.model.stateDict();
  for (const [k, v] of Object.entries(model)) tensors[`model.${k}`] = v;
  const optimizer = state.optimizer?.saveState();
  for (const [k, v] of Object.entries(optimizer?.tensors ?? {})) tensors[`optimizer.${k}`] = v;
  try {
    const rngStates: Record<string, number[]> = {};
    for (const [name, rng] of Object.entries(state.rngs ?? {})) rngStates[name] = rng.state();
    const meta = {
      format: FORMAT,
      step: state.step,
      epoch: state.epoch,
      rngStates,
      config: state.config ?? null,
      record: state.record ?? null,
      optimizer: optimizer ? optimizer.meta : null,
    };
    return writeSafetensors(tensors, { [METADATA_KEY]: JSON.stringify(meta) });
  } finally {
    tf.dispose(Object.values(model));
    tf.dispose(Object.values(optimizer?.tensors ?? {}));
  }
}

interface StoredMeta extends RestoredState {
  format: number;
  optimizer: unknown;
}

function parseMeta(metadata: Record<string, string>, fileName: string): StoredMeta {
  const raw = metadata[METADATA_KEY];
  if (raw === undefined)
    throw new Error(`${fileName}: not a deformjs training checkpoint (no '${METADATA_KEY}' metadata)`);
  const meta = JSON.parse(raw) as StoredMeta;
  if (meta.format !== FORMAT)
    throw new Error(`${fileName}: checkpoint format ${meta.format}, this reader knows ${FORMAT}`);
  return { ...meta, record: meta.record ?? null };
}

/**
 * A checkpoint's step, epoch, generators, config and record without loading any tensor into a model: read the
 * config (and validate it) before building the model it describes.
 */
export function readCheckpointInfo(bytes: Uint8Array, fileName = 'checkpoint'): RestoredState {
  const { step, epoch, rngStates, config, record } = parseMeta(readSafetensors(bytes, fileName).metadata, fileName);
  return { step, epoch, rngStates, config, record };
}

/**
 * Restores a checkpoint made by `encodeCheckpoint`: loads the model strictly (every key, every shape), the
 * optimizer when given (a checkpoint without optimizer state is then an error), and returns the rest.
 */
export function decodeCheckpoint(
  bytes: Uint8Array,
  target: { model: Module; optimizer?: CheckpointableOptimizer },
  fileName = 'checkpoint',
): RestoredState {
  const { tensors, metadata } = readSafetensors(bytes, fileName);
  const meta = parseMeta(metadata, fileName);
  const pick = (prefix: string) => toTensors(withPrefix(tensors, prefix));
  const model = pick('model.');
  try {
    target.model.loadStateDict(model, { strict: true });
  } finally {
    tf.dispose(Object.values(model));
  }
  if (target.optimizer) {
    if (meta.optimizer === null) throw new Error(`${fileName}: the checkpoint holds no optimizer state`);
    const optimizer = pick('optimizer.');
    try {
      target.optimizer.loadState({ tensors: optimizer, meta: meta.optimizer });
    } finally {
      tf.dispose(Object.values(optimizer));
    }
  }
  const { step, epoch, rngStates, config, record } = meta;
  return { step, epoch, rngStates, config, record };
}

/**
 * The model's tensors of a checkpoint by state_dict name, not loaded anywhere: for initialising another model
 * from the weights the two share (`loadWeights`), where `decodeCheckpoint` restores the same model strictly.
 */
export function readCheckpointModel(bytes: Uint8Array, fileName = 'checkpoint'): Record<string, TensorData> {
  const { tensors, metadata } = readSafetensors(bytes, fileName);
  parseMeta(metadata, fileName);
  return withPrefix(tensors, 'model.');
}

/** The entries whose name starts with `prefix`, renamed without it. */
function withPrefix<T>(entries: Record<string, T>, prefix: string): Record<string, T> {
  const out = emptyRecord<T>();
  for (const [name, value] of Object.entries(entries))
    if (name.startsWith(prefix)) out[name.slice(prefix.length)] = value;
  return out;
}
