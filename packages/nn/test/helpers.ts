import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';

/** A JSON fixture; each test reads the fields it needs, so the default type is open. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function fixture<T = any>(name: string): T {
  return JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8')) as T;
}

export function fixturePath(name: string): string {
  return new URL(`./fixtures/${name}`, import.meta.url).pathname;
}

/** A fixture's {shape, values} state_dict as PyTorch-layout tensors (caller disposes). */
export function stateTensors(state: Record<string, { shape: number[]; values: number[] }>): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const [k, { shape, values }] of Object.entries(state))
    out[k] = k.endsWith('num_batches_tracked') ? tf.tensor(values, shape, 'int32') : tf.tensor(values, shape);
  return out;
}
