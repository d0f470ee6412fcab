import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '@deformjs/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCoco, type CocoDataset } from '../src/coco';
import { generateDetection } from '../src/shapes/detection';
import {
  applyTransforms,
  crop,
  detrTrainTransforms,
  horizontalFlip,
  IMAGENET_MEAN,
  IMAGENET_STD,
  normalize,
  resizeImage,
  resizeShorterSide,
  sizeWithAspectRatio,
  validateTransforms,
  type TransformSpec,
} from '../src/transforms';
import type { Sample } from '../src/types';
import { tempDir } from './helpers';

const dir = tempDir('transforms');
let ds: CocoDataset;

beforeAll(async () => {
  const files = await generateDetection({
    out: join(dir, 'shapes'),
    seed: 21,
    count: 12,
    valCount: 2,
    size: 96,
    crowdProbability: 0.3,
  });
  ds = loadCoco(files.train);
});

/** Every box lies in the image, and every mask is non-empty and inside its box. */
function checkConsistent(s: Sample): void {
  const plane = s.width * s.height;
  for (let k = 0; k < s.labels.length; k++) {
    const [x0, y0, x1, y1] = s.boxes.subarray(4 * k, 4 * k + 4);
    expect(x0).toBeGreaterThanOrEqual(0);
    expect(y0).toBeGreaterThanOrEqual(0);
    expect(x1).toBeLessThanOrEqual(s.width + 1e-4);
    expect(y1).toBeLessThanOrEqual(s.height + 1e-4);
    expect(x1).toBeGreaterThan(x0);
    expect(y1).toBeGreaterThan(y0);
    const mask = s.masks!.subarray(k * plane, (k + 1) * plane);
    let pixels = 0;
    mask.forEach((v, p) => {
      if (!v) return;
      pixels++;
      const x = p % s.width;
      const y = Math.floor(p / s.width);
      // Masks resize by nearest neighbour (as DETR's), boxes exactly: each resize may move a mask edge by up to
      // a pixel against its box, and DETR's crop pipeline resizes twice.
      expect(x + 0.5).toBeGreaterThanOrEqual(x0 - 2);
      expect(x + 0.5).toBeLessThanOrEqual(x1 + 2);
      expect(y + 0.5).toBeGreaterThanOrEqual(y0 - 2);
      expect(y + 0.5).toBeLessThanOrEqual(y1 + 2);
    });
    expect(pixels).toBeGreaterThan(0);
  }
  expect(s.image.length).toBe(plane * 3);
  expect(s.iscrowd.length).toBe(s.labels.length);
  expect(s.area.length).toBe(s.labels.length);
}

describe('transforms', () => {
  it("sizeWithAspectRatio matches DETR's get_size_with_aspect_ratio", () => {
    expect(sizeWithAspectRatio(640, 480, 800, 1333)).toEqual([800, 1066]);
    expect(sizeWithAspectRatio(480, 640, 800, 1333)).toEqual([1066, 800]);
    expect(sizeWithAspectRatio(1000, 300, 800, 1333)).toEqual([400, 1333]);
    expect(sizeWithAspectRatio(500, 375, 375)).toEqual([375, 500]);
    expect(sizeWithAspectRatio(333, 500, 256)).toEqual([384, 256]);
  });

  it('bilinear resize equals PIL (torchvision on PIL images) exactly, shrinking and enlarging', () => {
    const fixtures = JSON.parse(readFileSync(new URL('./fixtures/pil_resize.json', import.meta.url), 'utf8'));
    for (const fixture of fixtures) {
      const input = Uint8Array.from(fixture.data);
      for (const c of fixture.cases) {
        const out = resizeImage(input, fixture.width, fixture.height, 3, c.width, c.height);
        expect(Array.from(out), `${fixture.width}x${fixture.height} -> ${c.width}x${c.height}`).toEqual(c.data);
      }
    }
    // Float images take the same filter without rounding.
    const floats = resizeImage(Float32Array.from(fixtures[0].data), fixtures[0].width, fixtures[0].height, 3, 4, 3);
    floats.forEach((v, i) => expect(Math.abs(v - fixtures[0].cases[0].data[i])).toBeLessThan(1));
  });

  it('resize, flip and crop keep boxes inside and consistent with masks', async () => {
    for (let i = 0; i < ds.records.length; i++) {
      const s = await ds.get(i, { masks: true });
      checkConsistent(s);
      const resized = resizeShorterSide(s, 57, 70);
      expect(Math.max(resized.width, resized.height)).toBeLessThanOrEqual(70);
      checkConsistent(resized);
      const flipped = horizontalFlip(resized);
      checkConsistent(flipped);
      const back = horizontalFlip(flipped);
      back.boxes.forEach((v, k) => expect(v).toBeCloseTo(resized.boxes[k], 4));
      expect(Buffer.from(back.image).equals(Buffer.from(resized.image))).toBe(true);
      const cropped = crop(s, 10, 20, 40, 30);
      checkConsistent(cropped);
      expect([cropped.width, cropped.height]).toEqual([30, 40]);
    }
  });

  it('crop clips boxes, drops the ones left empty and crops label maps with void padding', () => {
    const width = 10;
    const height = 8;
    const sample: Sample = {
      id: 1,
      width,
      height,
      origWidth: width,
      origHeight: height,
      image: Uint8Array.from({ length: width * height * 3 }, (_, i) => i % 251),
      boxes: Float32Array.from([1, 1, 4, 4, 6, 5, 10, 8, 2, 6, 3, 8]),
      labels: Int32Array.from([0, 1, 2]),
      iscrowd: Uint8Array.from([0, 1, 0]),
      area: Float32Array.from([9, 12, 2]),
      segmentation: Uint8Array.from({ length: width * height }, (_, i) => i % 7),
    };
    const c = crop(sample, 2, 3, 4, 5);
    expect(Array.from(c.boxes)).toEqual([0, 0, 1, 2, 3, 3, 5, 4]);
    expect(Array.from(c.labels)).toEqual([0, 1]);
    expect(Array.from(c.iscrowd)).toEqual([0, 1]);
    expect(Array.from(c.area)).toEqual([2, 2]);
    expect(c.segmentation![0]).toBe(sample.segmentation![2 * width + 3]);
    expect(Array.from(c.image.subarray(0, 3))).toEqual(
      Array.from(sample.image.subarray((2 * width + 3) * 3, (2 * width + 3) * 3 + 3)),
    );
    const padded = crop(sample, -2, -1, 12, 12);
    expect(padded.segmentation![0]).toBe(255);
    expect(padded.segmentation![2 * 12 + 1]).toBe(sample.segmentation![0]);
    expect(Array.from(padded.boxes.subarray(0, 4))).toEqual([2, 3, 5, 6]);
  });

  it('normalize uses the ImageNet mean and std', () => {
    const sample = {
      id: 0,
      width: 1,
      height: 1,
      origWidth: 1,
      origHeight: 1,
      image: Uint8Array.from([0, 128, 255]),
      boxes: new Float32Array(0),
      labels: new Int32Array(0),
      iscrowd: new Uint8Array(0),
      area: new Float32Array(0),
    };
    const n = normalize(sample);
    [0, 128, 255].forEach((v, c) => expect(n.image[c]).toBeCloseTo((v / 255 - IMAGENET_MEAN[c]) / IMAGENET_STD[c], 5));
    expect(() => normalize(n)).toThrow(/normalize: argument 'sample.image' expected uint8 pixels/);
  });

  it("DETR's training pipeline keeps every sample consistent, and a seed fixes the augmentation", async () => {
    const specs = detrTrainTransforms({
      scales: [64, 72, 80],
      maxSize: 110,
      cropResizes: [60, 70],
      cropSize: [40, 60],
    });
    validateTransforms(specs);
    const s = await ds.get(3, { masks: true });
    for (let seed = 0; seed < 30; seed++) {
      const out = applyTransforms(s, specs, new Rng(seed));
      expect(out.image).toBeInstanceOf(Float32Array);
      checkConsistent(out);
      expect(Math.max(out.width, out.height)).toBeLessThanOrEqual(110);
    }
    const a = applyTransforms(s, specs, new Rng(5));
    const b = applyTransforms(s, specs, new Rng(5));
    expect(Array.from(a.boxes)).toEqual(Array.from(b.boxes));
    expect(Buffer.from(a.image.buffer).equals(Buffer.from(b.image.buffer))).toBe(true);
  });

  it('validateTransforms names the bad step', () => {
    expect(() => validateTransforms([{ type: 'resize', size: 0 }])).toThrow(
      /transforms: argument 'transforms\[0\]\.size' expected an integer >= 1, got 0/,
    );
    expect(() => validateTransforms([{ type: 'randomSizeCrop', minSize: 50, maxSize: 20 }])).toThrow(
      /'transforms\[0\]\.maxSize' expected >= minSize = 50, got 20/,
    );
    expect(() => validateTransforms([{ type: 'blur' } as unknown as TransformSpec])).toThrow(
      /'transforms\[0\]\.type' expected one of 'resize'/,
    );
    expect(() =>
      validateTransforms([{ type: 'randomSelect', first: [], second: [{ type: 'normalize', std: [1, 0, 1] }] }]),
    ).toThrow(/'transforms\[0\]\.std' expected 3 finite numbers > 0/);
  });
});
