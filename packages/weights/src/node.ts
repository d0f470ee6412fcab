import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { writeFileAtomic } from '@deformjs/core/node';
import {
  decodeCheckpoint,
  encodeCheckpoint,
  type CheckpointableOptimizer,
  type RestoredState,
  type TrainingState,
} from './checkpoint';
import type { Module } from '@deformjs/core';
import { readPth } from './pth';
import type { ReadPthOptions } from './budget';
import { readSafetensors, writeSafetensors, type SafetensorsContents, type Writable } from './safetensors';
import type { PickleValue } from './pickle';
import { encodeTorchStateDict } from './torch_export';

function read(path: string): Uint8Array {
  const buffer = readFileSync(path);
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

export function readSafetensorsFile(path: string): SafetensorsContents {
  return readSafetensors(read(path), basename(path));
}

/** Writes a safetensors file atomically (temporary file, then rename). */
export function writeSafetensorsFile(
  path: string,
  tensors: Record<string, Writable>,
  metadata: Record<string, string> = {},
): void {
  writeFileAtomic(path, writeSafetensors(tensors, metadata));
}

/** Saves a Module's state_dict in PyTorch's names and layouts as safetensors, atomically (`encodeTorchStateDict`). */
export function saveTorchStateDict(path: string, module: Module, metadata: Record<string, string> = {}): void {
  writeFileAtomic(path, encodeTorchStateDict(module, metadata));
}

export function readPthFile(path: string, options: ReadPthOptions = {}): PickleValue {
  return readPth(read(path), basename(path), options);
}

/**
 * Saves a training checkpoint atomically: a crash leaves the previous file intact. `afterTempWrite` runs
 * between the temporary file's write and its rename (fault-injection tests kill the process there).
 */
export function saveCheckpoint(
  path: string,
  state: TrainingState,
  options: { afterTempWrite?: () => void } = {},
): void {
  writeFileAtomic(path, encodeCheckpoint(state), options);
}

export function loadCheckpoint(
  path: string,
  target: { model: Module; optimizer?: CheckpointableOptimizer },
): RestoredState {
  return decodeCheckpoint(read(path), target, basename(path));
}

export { RunFolder, fingerprintDifferences, readResumableCheckpoint } from './run_folder';
export type { RunFolderOptions } from './run_folder';
export { LOSS_PLOT, TrainingClock, saveTrainingCheckpoint, writeRunRecord } from './training_run';
export type { TrainingTime, WritePoint } from './training_run';
