// What the trainer tests read back from a run folder, and a console kept quiet while the CLI runs in-process.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { vi } from 'vitest';
import { readCheckpointModel } from '@deformjs/weights';
import type { Metrics } from '../src/train';

/** Silences the CLI's output and progress; returns the lines it printed as errors. */
export function quiet(): string[] {
  const err: string[] = [];
  vi.spyOn(console, 'log').mockImplementation(() => undefined);
  vi.spyOn(console, 'error').mockImplementation((text: string) => void err.push(String(text)));
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  return err;
}

/** The run's training record (metrics.json). */
export const record = (out: string) => JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as Metrics;

/** The model's tensors in the run's checkpoint, by state_dict name. */
export function modelTensors(out: string): Record<string, number[]> {
  const tensors = readCheckpointModel(new Uint8Array(readFileSync(join(out, 'checkpoint.safetensors'))));
  return Object.fromEntries(Object.entries(tensors).map(([name, t]) => [name, Array.from(t.values as Float32Array)]));
}
