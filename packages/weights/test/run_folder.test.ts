import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Linear, Rng, initBackend } from '@deformjs/core';
import { decodeCheckpoint, encodeCheckpoint, readCheckpointInfo } from '../src';
import { RunFolder, fingerprintDifferences, readResumableCheckpoint } from '../src/node';

const owns = (name: string) => ['checkpoint.safetensors', 'metrics.json'].includes(name) || name.startsWith('plot-');
const fresh = () => mkdtempSync(join(tmpdir(), 'deformjs-run-'));

describe('RunFolder', () => {
  it('creates and locks the folder; a second opener is refused while the first holds it', () => {
    const dir = join(fresh(), 'run');
    const first = RunFolder.open(dir, { program: 'train', owns });
    expect(readdirSync(dir)).toEqual(['.lock']);
    expect(() => RunFolder.open(dir, { program: 'train', owns })).toThrow(/in use by another trainer \(pid \d+\)/);
    first.release();
    expect(readdirSync(dir)).toEqual([]);
    RunFolder.open(dir, { program: 'train', owns }).release();
  });

  it('replaces a stale lock left by a killed process, and an unreadable one', () => {
    const dir = fresh();
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    writeFileSync(join(dir, '.lock'), JSON.stringify({ pid: Number(dead.stdout) }));
    RunFolder.open(dir, { program: 'train', owns }).release();
    writeFileSync(join(dir, '.lock'), '{"pid": 12');
    RunFolder.open(dir, { program: 'train', owns }).release();
  });

  it('removes orphaned temporaries of writeFileAtomic and nothing else', () => {
    const dir = fresh();
    writeFileSync(join(dir, '.checkpoint.safetensors.4242.1700000000000.tmp'), 'half');
    writeFileSync(join(dir, 'metrics.json'), '{}');
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    RunFolder.open(dir, { program: 'train', owns }).release();
    expect(readdirSync(dir).sort()).toEqual(['metrics.json', 'notes.txt']);
  });

  it('fresh deletes only the program files, and refuses a folder holding anything else', () => {
    const dir = fresh();
    writeFileSync(join(dir, 'checkpoint.safetensors'), 'x');
    mkdirSync(join(dir, 'plot-a'));
    RunFolder.open(dir, { program: 'train', owns, fresh: true }).release();
    expect(readdirSync(dir)).toEqual([]);
    writeFileSync(join(dir, 'metrics.json'), '{}');
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    expect(() => RunFolder.open(dir, { program: 'train', owns, fresh: true })).toThrow(
      'train: --fresh would discard the run in',
    );
    expect(readdirSync(dir).sort()).toEqual(['metrics.json', 'notes.txt']);
  });

  it('refuses a file, and a read-only folder, before anything is written', () => {
    const file = join(fresh(), 'notes.txt');
    writeFileSync(file, 'mine');
    expect(() => RunFolder.open(file, { program: 'train', owns })).toThrow(
      `train: --out ${file} is a file, not a folder`,
    );
    if (process.getuid?.() === 0) return; // root writes anywhere: the permission check cannot fail
    const dir = fresh();
    chmodSync(dir, 0o500);
    expect(() => RunFolder.open(dir, { program: 'train', owns })).toThrow('is not writable');
    expect(existsSync(join(dir, '.lock'))).toBe(false);
  });
});

describe('fingerprintDifferences', () => {
  it('lists each differing field with both values, and nothing for equal fingerprints', () => {
    const saved = { data: { count: 40, seed: 0, classes: ['a', 'b'] }, batch: 4 };
    expect(fingerprintDifferences(saved, structuredClone(saved))).toEqual([]);
    expect(fingerprintDifferences(saved, { data: { count: 41, seed: 7, classes: ['a'] }, batch: 4, extra: 1 })).toEqual(
      [
        'data.count: 40 in the checkpoint, 41 now',
        'data.seed: 0 in the checkpoint, 7 now',
        'data.classes: ["a","b"] in the checkpoint, ["a"] now',
        'extra: nothing in the checkpoint, 1 now',
      ],
    );
  });
});

describe('readResumableCheckpoint', () => {
  it('returns nothing before the first checkpoint, the record of a matching one, and refuses the others', async () => {
    await initBackend('cpu');
    const model = new Linear(new Rng(0), 3, 2);
    const path = join(fresh(), 'checkpoint.safetensors');
    const fingerprint = { data: { seed: 0 }, width: 3 };
    expect(readResumableCheckpoint(path, fingerprint)).toBeUndefined();
    const record = { fingerprint, loss: [[1, 0.5]] };
    const bytes = encodeCheckpoint({ model, step: 1, epoch: 0, record });
    writeFileSync(path, bytes);
    const resumed = readResumableCheckpoint<typeof record>(path, structuredClone(fingerprint));
    expect(resumed?.record).toEqual(record);
    expect(resumed?.bytes).toEqual(bytes);
    expect(() => readResumableCheckpoint(path, { data: { seed: 5 }, width: 3 })).toThrow(
      `${path} was trained on something else:\n  data.seed: 0 in the checkpoint, 5 now\npass --fresh`,
    );
    writeFileSync(path, encodeCheckpoint({ model, step: 1, epoch: 0 }));
    expect(() => readResumableCheckpoint(path, fingerprint)).toThrow('no training record');
  });
});

describe('checkpoint record', () => {
  it('is saved in the checkpoint file and read back without building a model', async () => {
    await initBackend('cpu');
    const model = new Linear(new Rng(0), 3, 2);
    const record = { loss: [[1, 0.5]], segments: [{ fromStep: 0, options: { lr: 1e-3 } }] };
    const bytes = encodeCheckpoint({ model, step: 1, epoch: 0, config: { width: 3 }, record });
    expect(readCheckpointInfo(bytes, 'ckpt')).toEqual({
      step: 1,
      epoch: 0,
      rngStates: {},
      config: { width: 3 },
      record,
    });
    const other = new Linear(new Rng(1), 3, 2);
    expect(decodeCheckpoint(bytes, { model: other }).record).toEqual(record);
    expect(readCheckpointInfo(encodeCheckpoint({ model, step: 0, epoch: 0 })).record).toBeNull();
    model.dispose();
    other.dispose();
  });
});
