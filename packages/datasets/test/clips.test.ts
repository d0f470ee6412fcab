import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '@deformjs/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { ClipSampler } from '../src/clips';
import { loadVideoMotion } from '../src/motion';
import { generateVideo } from '../src/shapes/video';
import { applyTransforms, type TransformSpec } from '../src/transforms';
import type { Sample } from '../src/types';
import { loadImagenetVid, type VidDataset } from '../src/vid';
import { tempDir, thrown } from './helpers';

const dir = tempDir('clips');
let root: string;
let dataset: VidDataset;
const transforms: TransformSpec[] = [
  { type: 'horizontalFlip' },
  { type: 'randomSizeCrop', minSize: 40, maxSize: 80 },
  { type: 'randomResize', sizes: [48, 64, 72] },
];

beforeAll(async () => {
  ({ root } = await generateVideo({ out: join(dir, 'vid'), seed: 2, count: 2, valCount: 1, size: 96, frames: 12 }));
  dataset = loadImagenetVid({ root, split: 'train', classes: ['circle', 'square', 'triangle', 'star', 'cross'] });
});

/** Mean absolute pixel difference of two same-size samples. */
function difference(a: Sample, b: Sample): number {
  let sum = 0;
  for (let i = 0; i < a.image.length; i++) sum += Math.abs(a.image[i] - b.image[i]);
  return sum / a.image.length;
}

describe('ClipSampler', () => {
  it('draws references inside the video and range, deterministically', () => {
    const sampler = new ClipSampler(dataset, { references: 2, range: [-9, 9], transforms, seed: 3 });
    const clips = sampler.clips(0);
    expect(clips.map((c) => c.anchor).sort((a, b) => a - b)).toEqual(dataset.records.map((_, i) => i));
    expect(new ClipSampler(dataset, { references: 2, range: [-9, 9], transforms, seed: 3 }).clips(0)).toEqual(clips);
    expect(sampler.clips(1)).not.toEqual(clips);
    for (const clip of clips) {
      const anchor = dataset.records[clip.anchor];
      expect(clip.frames.length).toBe(3);
      clip.frames.forEach((f, i) => {
        expect(dataset.records[f].video).toBe(anchor.video);
        expect(dataset.records[f].frame - anchor.frame).toBe(clip.offsets[i]);
        expect(Math.abs(clip.offsets[i])).toBeLessThanOrEqual(9);
      });
    }
    const keyFrames = new ClipSampler(dataset, { references: 1, range: [-9, 0], transforms, seed: 0 }).clips(0);
    expect(keyFrames.every((c) => c.offsets[1] <= 0)).toBe(true);
    expect(new Set(keyFrames.map((c) => c.offsets[1])).size).toBeGreaterThan(3);
  });

  it('applies one augmentation to every frame of a clip', async () => {
    const sampler = new ClipSampler(dataset, { references: 2, range: [-3, 3], transforms, seed: 1 });
    const sizes = new Set<string>();
    let jointly = 0;
    let independently = 0;
    for (const spec of sampler.clips(0).slice(0, 8)) {
      const clip = await sampler.load(spec);
      const { width, height } = clip.samples[0];
      sizes.add(`${width}x${height}`);
      clip.samples.forEach((s) => expect([s.width, s.height]).toEqual([width, height]));
      // The static background lines up only when the frames share their flip and crop.
      const raw = await Promise.all(spec.frames.map((i) => dataset.get(i)));
      let other: Sample;
      let seed = 100;
      do other = applyTransforms(raw[1], transforms, new Rng(seed++));
      while (other.width !== width || other.height !== height);
      jointly += difference(clip.samples[0], clip.samples[1]);
      independently += difference(clip.samples[0], other);
    }
    expect(sizes.size).toBeGreaterThan(2);
    expect(jointly).toBeLessThan(independently / 2);
    expect(await sampler.load(sampler.clip(0, 5))).toEqual(await sampler.load(sampler.clip(0, 5)));
  });

  it('errors name the argument', async () => {
    const options = { references: 1, range: [-9, 0] as const, transforms, seed: 0 };
    expect(() => new ClipSampler(dataset, { ...options, range: [3, -3] })).toThrow(/ClipSampler.*range/);
    expect(() => new ClipSampler(dataset, { ...options, references: -1 })).toThrow(/ClipSampler.*references/);
    expect(() => new ClipSampler(dataset, { ...options, transforms: [{ type: 'blur' } as never] })).toThrow(
      /ClipSampler/,
    );
    expect(() => new ClipSampler(dataset, options).clip(0, 999)).toThrow(/ClipSampler.clip.*anchor/);
  });
});

describe('loadVideoMotion', () => {
  it('names the file and the field of a broken poses.json', async () => {
    const video = dataset.videos[0].name;
    const file = join(root, 'Motion', 'VID', 'train', video, 'poses.json');
    const good = loadVideoMotion(root, 'train', video);
    writeFileSync(file, JSON.stringify({ ...good, poses: [[{ ...good.poses[0][0], radius: 'x' }]] }));
    expect((await thrown(() => loadVideoMotion(root, 'train', video))).message).toMatch(
      /poses\.json: poses\[0\]\[0\]: radius must be a finite number, got "x"/,
    );
    writeFileSync(file, JSON.stringify({ ...good, width: -3 }));
    expect((await thrown(() => loadVideoMotion(root, 'train', video))).message).toMatch(
      /width: expected a positive integer/,
    );
    writeFileSync(file, '{"split": ');
    expect((await thrown(() => loadVideoMotion(root, 'train', video))).message).toMatch(/malformed or truncated JSON/);
    writeFileSync(file, JSON.stringify(good));
    expect(loadVideoMotion(root, 'train', video)).toEqual(good);
  });
});
