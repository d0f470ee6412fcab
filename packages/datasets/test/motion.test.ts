import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeImage } from '../src/image';
import { decodeFlo, encodeFlo } from '../src/formats/flo';
import { loadGroundTruthFlow, loadVideoMotion } from '../src/motion';
import { polygonsToMask } from '../src/formats/mask';
import { clipPolygon, diskBlur, shapePolygon } from '../src/shapes/raster';
import { generateVideo, speedBin, type VidDatasetFiles } from '../src/shapes/video';
import { tempDir, thrown } from './helpers';

const dir = tempDir('motion');
const OFFSETS = [-1, -4, 3];
let sharp: VidDatasetFiles;

beforeAll(async () => {
  sharp = await generateVideo({
    out: join(dir, 'sharp'),
    seed: 11,
    count: 3,
    valCount: 1,
    size: 96,
    frames: 10,
    flowOffsets: OFFSETS,
  });
});

function files(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) =>
    readdirSync(d)
      .sort()
      .forEach((e) => (statSync(join(d, e)).isDirectory() ? walk(join(d, e)) : out.push(relative(root, join(d, e)))));
  walk(root);
  return out;
}

/** Frame k sampled bilinearly at p + flow(p) (pixel centres at integers, zero outside), as DFF warps. */
function warpImage(image: Uint8Array, width: number, height: number, flow: Float32Array): Float32Array {
  const out = new Float32Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      const sx = x + flow[2 * p];
      const sy = y + flow[2 * p + 1];
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      for (const [cx, cy, w] of [
        [x0, y0, (x0 + 1 - sx) * (y0 + 1 - sy)],
        [x0 + 1, y0, (sx - x0) * (y0 + 1 - sy)],
        [x0, y0 + 1, (x0 + 1 - sx) * (sy - y0)],
        [x0 + 1, y0 + 1, (sx - x0) * (sy - y0)],
      ]) {
        if (cx < 0 || cx >= width || cy < 0 || cy >= height) continue;
        for (let c = 0; c < 3; c++) out[3 * p + c] += w * image[3 * (cy * width + cx) + c];
      }
    }
  }
  return out;
}

describe('shapes video motion: poses, ground-truth flow, motion blur', () => {
  it('records poses and per-track speeds, written and read back', () => {
    const video = sharp.videos[0];
    expect(video.poses.length).toBe(10);
    const motion = loadVideoMotion(sharp.root, video.split, video.video);
    expect(motion).toEqual(video);
    const tracks = sharp.tracks.filter((t) => t.video === video.video);
    expect(video.poses[0].length).toBe(tracks.length);
    // Between frames without a bounce the centre moves by the track's speed.
    tracks.forEach((track) => {
      const steps = video.poses
        .slice(1)
        .map((frame, f) =>
          Math.hypot(
            frame[track.trackId].cx - video.poses[f][track.trackId].cx,
            frame[track.trackId].cy - video.poses[f][track.trackId].cy,
          ),
        );
      expect(Math.max(...steps)).toBeCloseTo(track.pixelsPerFrame, 6);
    });
    const bins = { slow: [] as number[], fast: [] as number[], medium: [] as number[] };
    sharp.tracks.forEach((t) => bins[t.speed].push(t.pixelsPerFrame));
    for (const v of bins.slow) for (const w of bins.fast) expect(w).toBeGreaterThan(v);
    // The bin is recoverable from the speed alone (what evaluations read from the recorded poses).
    sharp.tracks.forEach((t) => expect(speedBin(t.pixelsPerFrame, 96)).toBe(t.speed));
    expect(new Set(sharp.tracks.map((t) => t.speed)).size).toBeGreaterThan(1);
  });

  it('is byte-identical for the same seed, with blur and flow', async () => {
    const options = {
      ...{ seed: 4, count: 1, valCount: 1, size: 64, frames: 5 },
      ...{ motionBlur: 0.8, defocus: 8, flowOffsets: [-2] },
    };
    const a = join(dir, 'same-a');
    const b = join(dir, 'same-b');
    await generateVideo({ out: a, ...options });
    await generateVideo({ out: b, ...options });
    const listed = files(a);
    expect(listed).toEqual(files(b));
    expect(listed.filter((f) => f.endsWith('.flo')).length).toBe(2 * 3);
    for (const f of listed) expect(readFileSync(join(a, f)).equals(readFileSync(join(b, f)))).toBe(true);
  });

  it('warping frame k by the ground-truth flow reproduces frame t on valid pixels', async () => {
    let warpedError = 0;
    let zeroFlowError = 0;
    let moving = 0;
    let validCount = 0;
    let pixels = 0;
    for (const video of sharp.videos) {
      const { width, height, split } = video;
      const frame = (f: number) =>
        decodeImage(join(sharp.root, 'Data', 'VID', split, video.video, `${String(f).padStart(6, '0')}.JPEG`));
      for (let t = 0; t < 10; t++) {
        for (const d of OFFSETS) {
          const k = t + d;
          if (k < 0 || k >= 10) continue;
          const { flow, valid } = loadGroundTruthFlow(sharp.root, split, video.video, t, k, { width, height });
          const target = (await frame(t)).data;
          const source = (await frame(k)).data;
          const warped = warpImage(source, width, height, flow);
          for (let p = 0; p < width * height; p++) {
            pixels++;
            if (!valid[p]) continue;
            validCount++;
            // Only pixels that move: the static background reproduces trivially.
            if (Math.hypot(flow[2 * p], flow[2 * p + 1]) < 0.5) continue;
            moving++;
            for (let c = 0; c < 3; c++) {
              warpedError += Math.abs(warped[3 * p + c] - target[3 * p + c]) / 3;
              zeroFlowError += Math.abs(source[3 * p + c] - target[3 * p + c]) / 3;
            }
          }
        }
      }
    }
    warpedError /= moving;
    zeroFlowError /= moving;
    console.log(
      `GT-flow warp on moving valid pixels: mean |error| ${warpedError.toFixed(2)} vs zero flow ${zeroFlowError.toFixed(2)} (of 255; ${moving} pixels, ${((100 * validCount) / pixels).toFixed(1)}% of all pixels valid)`,
    );
    expect(moving).toBeGreaterThan(1000);
    expect(validCount / pixels).toBeGreaterThan(0.8);
    expect(warpedError).toBeLessThan(8);
    expect(zeroFlowError).toBeGreaterThan(3 * warpedError);
  });

  it('motion blur smears fast tracks more than slow ones, annotations unchanged', async () => {
    const blurred = await generateVideo({
      out: join(dir, 'blurred'),
      seed: 11,
      count: 3,
      valCount: 1,
      size: 96,
      frames: 10,
      motionBlur: 1,
    });
    expect(blurred.images).toEqual(sharp.images);
    expect(blurred.videos).toEqual(sharp.videos);
    // Per track, the mean change blur makes on the background ring within 6 px outside its outline (as drawn
    // in the sharp frame): the background is painted once per video and has no grain, so what changes there
    // is the shape smeared over it, about speed x exposure px wide.
    const change: Record<'slow' | 'medium' | 'fast', number[]> = { slow: [], medium: [], fast: [] };
    for (const video of sharp.videos) {
      const { width, height, split } = video;
      const read = (root: string, f: number) =>
        decodeImage(join(root, 'Data', 'VID', split, video.video, `${String(f).padStart(6, '0')}.JPEG`));
      for (const f of [3, 6]) {
        const a = (await read(sharp.root, f)).data;
        const b = (await read(blurred.root, f)).data;
        const poses = video.poses[f].map((pose) => clipPolygon(shapePolygon(pose), width, height));
        const anyShape = polygonsToMask(
          poses.filter((p) => p.length >= 6),
          height,
          width,
        );
        for (const track of sharp.tracks.filter((t) => t.video === video.video)) {
          const mask = polygonsToMask(
            [poses[track.trackId]].filter((p) => p.length >= 6),
            height,
            width,
          );
          let sum = 0;
          let n = 0;
          for (let y = 0; y < height; y++)
            for (let x = 0; x < width; x++) {
              if (anyShape[y * width + x]) continue;
              let near = false;
              for (let dy = -6; dy <= 6 && !near; dy++)
                for (let dx = -6; dx <= 6 && !near; dx++) {
                  const yy = y + dy;
                  const xx = x + dx;
                  near = yy >= 0 && yy < height && xx >= 0 && xx < width && mask[yy * width + xx] === 1;
                }
              if (!near) continue;
              n++;
              for (let c = 0; c < 3; c++) sum += Math.abs(a[3 * (y * width + x) + c] - b[3 * (y * width + x) + c]) / 3;
            }
          if (n > 0) change[track.speed].push(sum / n);
        }
      }
    }
    const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
    console.log(
      `blur change on the background ring: slow ${mean(change.slow).toFixed(1)}, medium ${mean(change.medium).toFixed(1)}, fast ${mean(change.fast).toFixed(1)}`,
    );
    expect(Object.values(change).every((v) => v.length > 0)).toBe(true);
    expect(mean(change.medium)).toBeGreaterThan(mean(change.slow));
    expect(mean(change.fast)).toBeGreaterThan(2 * mean(change.slow));
  });
});

describe('shapes video defocus', () => {
  const frame = (root: string, split: string, video: string, f: number) =>
    join(root, 'Data', 'VID', split, video, `${String(f).padStart(6, '0')}.JPEG`);

  it('blurs the frames of focus events, more with a larger radius, annotations unchanged', async () => {
    const options = { seed: 11, count: 3, valCount: 1, size: 96, frames: 10, flowOffsets: OFFSETS };
    const [small, large] = await Promise.all(
      [2, 4].map((defocus) => generateVideo({ out: join(dir, `defocus-${defocus}`), ...options, defocus })),
    );
    for (const blurred of [small, large]) {
      expect(blurred.images).toEqual(sharp.images);
      expect(blurred.tracks).toEqual(sharp.tracks);
      expect(blurred.videos.map((v) => ({ ...v, defocus: undefined }))).toEqual(sharp.videos);
      for (const video of blurred.videos) {
        expect(loadVideoMotion(blurred.root, video.split, video.video)).toEqual(video);
        const { flow } = loadGroundTruthFlow(blurred.root, video.split, video.video, 4, 3, video);
        expect(flow).toEqual(loadGroundTruthFlow(sharp.root, video.split, video.video, 4, 3, video).flow);
      }
    }
    // The same events at every setting, radii scaled by it (pixels at 256 px: 2 and 4 are 0.75 and 1.5 here).
    const radii = (files: VidDatasetFiles) => files.videos.flatMap((v) => v.defocus ?? []);
    expect(radii(small).length).toBe(4 * 10);
    radii(large).forEach((r, i) => expect(r).toBeCloseTo(2 * radii(small)[i], 12));
    expect(Math.max(...radii(large))).toBeLessThanOrEqual(1.5);
    const events = radii(large).filter((r) => r > 0.5).length;
    expect(events).toBeGreaterThan(0);
    expect(events).toBeLessThan(40);
    // Frames in focus are the sharp frames byte for byte; a defocused one differs, more at the larger radius.
    let changedSmall = 0;
    let changedLarge = 0;
    for (const video of sharp.videos) {
      const r = large.videos.find((v) => v.video === video.video)!.defocus!;
      for (let f = 0; f < 10; f++) {
        const read = (root: string) => readFileSync(frame(root, video.split, video.video, f));
        if (r[f] === 0) {
          expect(read(large.root).equals(read(sharp.root))).toBe(true);
          continue;
        }
        const [a, b, c] = await Promise.all(
          [sharp.root, small.root, large.root].map((root) => decodeImage(frame(root, video.split, video.video, f))),
        );
        const change = (x: Uint8Array) => x.reduce((s, v, i) => s + Math.abs(v - a.data[i]), 0) / x.length;
        changedSmall += change(b.data);
        changedLarge += change(c.data);
      }
    }
    console.log(
      `defocus: summed mean |change| (of 255) over the ${events} frames of events, defocus 2: ${changedSmall.toFixed(1)}, 4: ${changedLarge.toFixed(1)}`,
    );
    expect(changedLarge).toBeGreaterThan(1.2 * changedSmall);
  });

  it('diskBlur is the identity below half a pixel and keeps a flat image flat', () => {
    const image = Uint8Array.from({ length: 5 * 4 * 3 }, (_, i) => (i * 37) % 256);
    expect(diskBlur(image, 5, 4, 0.4)).toEqual(image);
    const flat = new Uint8Array(6 * 6 * 3).fill(90);
    expect(diskBlur(flat, 6, 6, 3.3)).toEqual(flat);
    // A single bright pixel spreads over the disk, total brightness kept up to rounding.
    const dot = new Uint8Array(9 * 9 * 3);
    dot.fill(255, 3 * (4 * 9 + 4), 3 * (4 * 9 + 4) + 3);
    const spread = diskBlur(dot, 9, 9, 1.5);
    expect(spread[3 * (4 * 9 + 4)]).toBeLessThan(255);
    expect(spread[3 * (4 * 9 + 5)]).toBeGreaterThan(0);
    expect(spread[3 * (4 * 9 + 7)]).toBe(0);
    expect(Math.abs(spread.reduce((s, v) => s + v, 0) - 3 * 255)).toBeLessThan(3 * 15);
  });

  it('refuses a radius outside [0, 16]', async () => {
    for (const defocus of [-1, 17, Number.NaN])
      expect(
        (await thrown(() => generateVideo({ out: join(dir, 'never'), seed: 0, count: 1, defocus }))).message,
      ).toMatch(/generateVideo: argument 'defocus' expected a blur-disk radius in \[0, 16\] pixels \(at 256 px\), got/);
  });
});

describe('.flo files', () => {
  it('round-trips and refuses broken files before allocating', async () => {
    const flow = Float32Array.from({ length: 2 * 3 * 2 }, (_, i) => i * 0.25 - 1);
    const bytes = encodeFlo({ width: 3, height: 2, flow });
    expect(bytes.length).toBe(12 + 48);
    expect(String.fromCharCode(...bytes.subarray(0, 4))).toBe('PIEH');
    expect(decodeFlo(bytes, 'a.flo')).toEqual({ width: 3, height: 2, flow });
    const message = async (b: Uint8Array, options = {}) => (await thrown(() => decodeFlo(b, 'x.flo', options))).message;
    expect(await message(bytes.subarray(0, 8))).toMatch(/x\.flo: flo: truncated header: 8 bytes/);
    const badMagic = bytes.slice();
    badMagic[0] = 0;
    expect(await message(badMagic)).toMatch(/bad magic number/);
    // A header declaring 2^30 pixels in a 60-byte file: refused by size, nothing allocated.
    const huge = bytes.slice();
    new DataView(huge.buffer).setInt32(4, 1 << 15, true);
    new DataView(huge.buffer).setInt32(8, 1 << 15, true);
    expect(await message(huge)).toMatch(/32768 x 32768 exceeds the limit/);
    const big = bytes.slice();
    new DataView(big.buffer).setInt32(8, 1000, true);
    expect(await message(big)).toMatch(/60 bytes, but a 3 x 1000 flow takes exactly 24012 bytes/);
    expect(await message(bytes, { expected: { width: 4, height: 2 } })).toMatch(/differs from the frame's 4 x 2/);
    const nan = bytes.slice();
    new DataView(nan.buffer).setFloat32(12 + 4 * 7, NaN, true);
    expect(await message(nan)).toMatch(/non-finite or unknown flow NaN at pixel \(x 0, y 1\)/);
    const unknown = bytes.slice();
    new DataView(unknown.buffer).setFloat32(12, 1e10, true);
    expect(await message(unknown)).toMatch(/at pixel \(x 0, y 0\)/);
  });
});
