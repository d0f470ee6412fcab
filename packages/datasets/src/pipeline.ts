import { Rng } from '@deformjs/core';
import { DatasetFormatError } from './errors';
import { loadSample } from './sample';
import { applyTransforms, type TransformSpec } from './transforms';
import type { ImageRecord, Sample } from './types';

/** One unit of work for a decode worker: plain data only. */
export interface DecodeTask {
  id: number;
  record: ImageRecord;
  transforms: readonly TransformSpec[];
  /** Seed of this sample's augmentation. */
  seed: number;
  masks: boolean;
}

/** Decodes a record and augments it with a generator seeded for this sample alone. */
export async function decodeAndTransform(task: Omit<DecodeTask, 'id'>): Promise<Sample> {
  const sample = await loadSample(task.record, { masks: task.masks });
  return applyTransforms(sample, task.transforms, new Rng(task.seed));
}

/** The buffers a sample owns outright, to transfer rather than copy from a worker. */
export function sampleBuffers(sample: Sample): ArrayBuffer[] {
  const arrays = [
    sample.image,
    sample.boxes,
    sample.labels,
    sample.iscrowd,
    sample.area,
    sample.trackIds,
    sample.difficult,
    sample.masks,
    sample.segmentation,
  ];
  const buffers = new Set<ArrayBuffer>();
  for (const a of arrays) {
    if (a && a.buffer instanceof ArrayBuffer && a.byteOffset === 0 && a.byteLength === a.buffer.byteLength)
      buffers.add(a.buffer);
  }
  return [...buffers];
}

/** An error as plain data (errors lose their class crossing threads). */
export interface SerializedError {
  name: string;
  message: string;
  file?: string;
  record?: string;
  problem?: string;
}

export function serializeError(error: unknown): SerializedError {
  if (error instanceof DatasetFormatError)
    return { name: error.name, message: error.message, file: error.file, record: error.record, problem: error.problem };
  const e = error instanceof Error ? error : new Error(String(error));
  return { name: e.name, message: e.message };
}

export function deserializeError(error: SerializedError): Error {
  if (error.name === 'DatasetFormatError' && error.file !== undefined)
    return new DatasetFormatError(error.file, error.record ?? '', error.problem ?? '');
  const e = new Error(error.message);
  e.name = error.name;
  return e;
}
