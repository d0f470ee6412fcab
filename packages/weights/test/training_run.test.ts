import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Linear, Rng, initBackend } from '@deformjs/core';
import { readCheckpointInfo } from '../src';
import { RunFolder, TrainingClock, saveTrainingCheckpoint, writeRunRecord, type WritePoint } from '../src/node';

const owns = (name: string) => ['checkpoint.safetensors', 'run.json', 'loss.svg'].includes(name);

describe('training run helpers', () => {
  it('saveTrainingCheckpoint writes the checkpoint, then the views, calling each write point in order', async () => {
    await initBackend('cpu');
    const folder = RunFolder.open(mkdtempSync(join(tmpdir(), 'deformjs-train-')), { program: 'test', owns });
    const model = new Linear(new Rng(0), 2, 3);
    const record = { loss: [[1, 0.5] as [number, number]], secondsTraining: 0, cpuSecondsTraining: 0 };
    const seen: string[] = [];
    const onWritePoint = (point: WritePoint) => {
      const files = readdirSync(folder.dir).filter((f) => !f.startsWith('.lock'));
      seen.push(`${point}:${files.sort().join(',')}`);
    };
    saveTrainingCheckpoint(
      folder.path('checkpoint.safetensors'),
      { model, step: 1, epoch: 0, rngs: { data: new Rng(1) }, config: { kind: 'test' }, record },
      () => writeRunRecord(folder, 'run.json', record, { title: 'test', series: 'loss', points: record.loss }),
      onWritePoint,
    );
    expect(seen[0]).toBe('before-temp-write:');
    expect(seen[1]).toMatch(/^after-temp-write:\.checkpoint\.safetensors\.\d+\.\d+\.tmp$/);
    expect(seen.slice(2)).toEqual([
      'after-rename:checkpoint.safetensors',
      'after-record-write:checkpoint.safetensors,loss.svg,run.json',
    ]);
    const bytes = new Uint8Array(readFileSync(folder.path('checkpoint.safetensors')));
    expect(readCheckpointInfo(bytes, 'checkpoint').record).toEqual(record);
    expect(JSON.parse(readFileSync(folder.path('run.json'), 'utf8'))).toEqual(record);
    expect(readFileSync(folder.path('loss.svg'), 'utf8')).toContain('<svg');
    folder.release();
    model.dispose();
    expect(existsSync(join(folder.dir, '.lock'))).toBe(false);
  });

  it('TrainingClock adds only the time between start and stop to the record', () => {
    const record = { secondsTraining: 1, cpuSecondsTraining: 2 };
    const clock = new TrainingClock(record);
    const busy = (ms: number) => {
      const end = performance.now() + ms;
      while (performance.now() < end);
    };
    busy(30);
    clock.stop();
    const afterFirst = { ...record };
    expect(afterFirst.secondsTraining).toBeGreaterThanOrEqual(1.03);
    expect(afterFirst.cpuSecondsTraining).toBeGreaterThan(2);
    busy(30); // stopped: not counted
    clock.start();
    clock.stop();
    expect(record.secondsTraining - afterFirst.secondsTraining).toBeLessThan(0.03);
  });
});
