import * as tf from '@tensorflow/tfjs-core';
import type { Module } from '@deformjs/core';
import { emptyRecord, isTensorData, toTensor, type TensorData } from './tensor_data';

/** A key-renaming rule: every match of `pattern` in a key is replaced (String.replace semantics, `$1` works). */
export type RenameRule = readonly [pattern: RegExp | string, replacement: string];

/** DataParallel / DistributedDataParallel checkpoints prefix every key with `module.`. */
export const STRIP_MODULE_PREFIX: RenameRule = [/^module\./, ''];

/**
 * Renames every key by the rules, applied in order (a string pattern is compiled as a regular expression).
 * Two keys that end up with the same name are an error naming both.
 */
export function renameKeys<T>(dict: Record<string, T>, rules: readonly RenameRule[]): Record<string, T> {
  const compiled = rules.map(
    ([pattern, replacement]) => [typeof pattern === 'string' ? new RegExp(pattern) : pattern, replacement] as const,
  );
  const out = emptyRecord<T>();
  const source = emptyRecord<string>();
  for (const [key, value] of Object.entries(dict)) {
    const renamed = compiled.reduce((k, [pattern, replacement]) => k.replace(pattern, replacement), key);
    if (renamed in source) throw new Error(`renameKeys: '${key}' and '${source[renamed]}' both become '${renamed}'`);
    source[renamed] = key;
    out[renamed] = value;
  }
  return out;
}

export interface LoadWeightsOptions {
  rules?: readonly RenameRule[];
  /** Keys (after renaming) to drop silently, e.g. `/num_batches_tracked$/` or a classifier head. */
  ignore?: readonly RegExp[];
  /** The entries are in PyTorch's layouts (default true): convert each by its parameter's `layout`. */
  torchLayout?: boolean;
  /** Throw when a key is missing or unexpected (default false: report them). */
  strict?: boolean;
}

export interface LoadReport {
  loaded: string[];
  /** Parameters of the module that the weights did not provide (they keep their initial values). */
  missing: string[];
  /** Weights that name no parameter of the module (not loaded). */
  unexpected: string[];
  ignored: string[];
}

/**
 * Loads a state_dict (from `readPth`/`stateDictOf` or `readSafetensors`) into a Module: renames keys, drops
 * ignored ones, converts layouts and assigns by name, and reports what matched. A shape mismatch is always
 * an error naming the key and both shapes. The caller keeps ownership of tf.Tensor entries.
 */
export function loadWeights(
  module: Module,
  weights: Record<string, TensorData | tf.Tensor>,
  options: LoadWeightsOptions = {},
): LoadReport {
  const { rules = [], ignore = [], torchLayout = true, strict = false } = options;
  const renamed = renameKeys(weights, rules);
  const ignored = Object.keys(renamed).filter((k) => ignore.some((pattern) => pattern.test(k)));
  const kept = Object.keys(renamed).filter((k) => !ignored.includes(k));
  const created: tf.Tensor[] = [];
  const tensors = emptyRecord<tf.Tensor>();
  for (const key of kept) {
    const value = renamed[key];
    if (isTensorData(value)) {
      const t = toTensor(value);
      created.push(t);
      tensors[key] = t;
    } else {
      tensors[key] = value;
    }
  }
  try {
    const { missing, unexpected } = module.loadStateDict(tensors, { torchLayout, strict });
    return { loaded: kept.filter((k) => !unexpected.includes(k)), missing, unexpected, ignored };
  } finally {
    tf.dispose(created);
  }
}
