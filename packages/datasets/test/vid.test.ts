import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateVideo, type VidDatasetFiles } from '../src/shapes/video';
import { loadImagenetVid, VID_CLASSES } from '../src/vid';
import { tempDir, thrown } from './helpers';

const dir = tempDir('vid');
let files: VidDatasetFiles;

beforeAll(async () => {
  files = await generateVideo({ out: join(dir, 'vid'), seed: 5, count: 4, valCount: 2, size: 96, frames: 12 });
});

describe('ImageNet VID', () => {
  it('gives back frames, boxes and stable track ids', async () => {
    const ds = loadImagenetVid({ root: files.root, split: 'train', classes: files.classes });
    const truth = files.images.filter((g) => g.split === 'train');
    expect(ds.videos.length).toBe(4);
    expect(ds.videos.every((v) => v.frames.length === 12)).toBe(true);
    expect(ds.records.map((r) => r.id)).toEqual(truth.map((g) => g.id));
    ds.records.forEach((r, i) => {
      expect(Array.from(r.boxes)).toEqual(truth[i].boxes.flat());
      expect(Array.from(r.trackIds)).toEqual(truth[i].trackIds);
      expect(Array.from(r.labels)).toEqual(truth[i].shapes);
      expect(r.generated.every((g) => g === 0)).toBe(true);
    });
    // A track keeps its class through the video.
    for (const video of ds.videos) {
      const classOf = new Map<number, number>();
      for (const f of video.frames) {
        const r = ds.records[f];
        r.trackIds.forEach((t, k) => {
          if (classOf.has(t)) expect(classOf.get(t)).toBe(r.labels[k]);
          classOf.set(t, r.labels[k]);
        });
      }
    }
    const speeds = new Set(files.tracks.map((t) => t.speed));
    expect(speeds.size).toBeGreaterThan(1);
    const sample = await ds.get(5);
    expect(Array.from(sample.trackIds!)).toEqual(Array.from(ds.records[5].trackIds));
  });

  it('fast tracks move further between frames than slow ones', () => {
    const splits = ['train', 'val'].map((split) =>
      loadImagenetVid({ root: files.root, split, classes: files.classes }),
    );
    const motion = { slow: [] as number[], fast: [] as number[] };
    for (const track of files.tracks) {
      if (track.speed === 'medium') continue;
      const ds = splits.find((d) => d.videos.some((v) => v.name === track.video))!;
      const video = ds.videos.find((v) => v.name === track.video)!;
      const centres = video.frames
        .map((f) => ds.records[f])
        .map((r) => {
          const k = Array.from(r.trackIds).indexOf(track.trackId);
          return k < 0
            ? null
            : [(r.boxes[4 * k] + r.boxes[4 * k + 2]) / 2, (r.boxes[4 * k + 1] + r.boxes[4 * k + 3]) / 2];
        });
      for (let i = 1; i < centres.length; i++) {
        const a = centres[i - 1];
        const b = centres[i];
        if (a && b) motion[track.speed].push(Math.hypot(b[0] - a[0], b[1] - a[1]));
      }
    }
    const median = (v: number[]) => v.sort((a, b) => a - b)[Math.floor(v.length / 2)];
    expect(motion.slow.length).toBeGreaterThan(5);
    expect(motion.fast.length).toBeGreaterThan(5);
    expect(median(motion.fast)).toBeGreaterThan(2 * median(motion.slow));
  });

  it('errors: unknown wnid, bad XML, missing frame image, duplicate track', async () => {
    expect((await thrown(() => loadImagenetVid({ root: files.root, split: 'val' }))).message).toMatch(
      new RegExp(`000000\\.xml: object 0 \\(trackid \\d+\\): unknown class name "\\w+"`),
    );
    expect(VID_CLASSES.length).toBe(30);
    const video = 'shapes_val_00000000';
    const xml = join(files.root, 'Annotations', 'VID', 'val', video, '000003.xml');
    const original = readFileSync(xml, 'utf8');
    const load = () => loadImagenetVid({ root: files.root, split: 'val', classes: files.classes });
    try {
      writeFileSync(xml, original.slice(0, original.length - 30));
      expect((await thrown(load)).message).toMatch(
        /000003\.xml: line \d+, column \d+: malformed XML: unexpected end of file/,
      );
      expect(original).toContain('<trackid>');
      const firstObject = original.slice(
        original.indexOf('<object>'),
        original.indexOf('</object>') + '</object>'.length,
      );
      writeFileSync(xml, original.replace(firstObject, firstObject + firstObject));
      expect((await thrown(load)).message).toMatch(
        /000003\.xml: object 1 \(trackid \d+\): duplicate trackid in one frame/,
      );
    } finally {
      writeFileSync(xml, original);
    }
    const frame = join(files.root, 'Data', 'VID', 'val', video, '000002.JPEG');
    renameSync(frame, `${frame}.moved`);
    try {
      expect((await thrown(load)).message).toContain(`000002.xml: video ${video}, frame 2: referenced file not found`);
    } finally {
      renameSync(`${frame}.moved`, frame);
    }
  });
});
