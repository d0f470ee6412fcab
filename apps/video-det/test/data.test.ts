import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadVideoData } from '../src/data';

const cache = mkdtempSync(join(tmpdir(), 'video-det-data-'));
afterAll(() => rmSync(cache, { recursive: true, force: true }));
const options = { cache, size: 64, trainCount: 1, valCount: 1, frames: 3, dataSeed: 0, motionBlur: 0 };

describe('shapes video data', () => {
  it('generates defocused videos into their own cache folder, named in the fingerprint only when used', async () => {
    const sharp = await loadVideoData({ ...options, defocus: 0 });
    const defocused = await loadVideoData({ ...options, defocus: 4 });
    expect(readdirSync(cache).sort()).toEqual([
      'video-seed0-n1-s64-v1-defocus4-frames3-motionBlur0',
      'video-seed0-n1-s64-v1-frames3-motionBlur0',
    ]);
    expect(sharp.fingerprint.shapes).not.toHaveProperty('defocus');
    expect(defocused.fingerprint.shapes).toMatchObject({ defocus: 4 });
    // The same videos and annotations: defocus changes pixels only.
    expect(defocused.train.records.map((r) => Array.from(r.boxes))).toEqual(
      sharp.train.records.map((r) => Array.from(r.boxes)),
    );
  });
});
