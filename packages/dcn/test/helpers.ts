import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';

export interface FixtureTensor {
  shape: number[];
  data: number[];
}

export type Fixture = Record<string, FixtureTensor> & { options: Record<string, unknown> };

/** Reads a JSON fixture written by scripts/make_fixtures.py (already in deformjs's NHWC / HWIO layouts). */
export function loadFixture(name: string): Fixture {
  return JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8')) as Fixture;
}

export function toTensor(entry: FixtureTensor): tf.Tensor {
  return tf.tensor(entry.data, entry.shape, 'float32');
}
