// The demo page, built by Vite and driven in headless Chromium as a user would (buttons, file inputs, clicks), against
// Node's run of the same code: detections of the seeded model and of a loaded checkpoint on the shapes sample (wasm
// to 1e-5; webgl within the tolerance below), a refused wrong checkpoint, and the DCN sampling-point view. Writes
// docs/demo.png, the README's screenshot.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@deformjs/core';
import { assertAllClose } from '@deformjs/core/testing';
import { decodeImage } from '@deformjs/datasets';
import type { RgbImage, TransformSpec } from '@deformjs/datasets/browser';
import { DETR, DETR_SMALL } from '@deformjs/deformable-detr';
import { encodeCheckpoint } from '@deformjs/weights';
import { prepareImage, type Detections } from '@deformjs/detect-app/browser';
import { loadDemoDetector, seededCheckpoint } from '../src/detection';
import type { DemoState } from '../src/main';
import { SamplingPointsView, type SamplingPoint } from '../src/sampling_points';
import { openDemo, type OpenPage } from './browser';

const samplePath = fileURLToPath(new URL('../public/shapes-sample.png', import.meta.url));
const screenshotPath = fileURLToPath(new URL('../docs/demo.png', import.meta.url));
/**
 * webgl (SwiftShader) against Node's wasm, through 3+3 transformer layers: scores to 1e-3, boxes to 0.05 px of the
 * 128 px image. Only the top 10 of Node's detections are looked up (the untrained model's scores are close
 * together, so the order of the tail may differ between backends).
 */
const WEBGL = { score: 1e-3, box: 0.05, top: 10 };
/** The DCN view's pick: a position of the model input. */
const PICK = { x: 40, y: 60 };

let opened: OpenPage;
let sample: RgbImage;
let seededNode: Detections;
let points: SamplingPoint[][];
/** The model input's size (the DCN view's pixels). */
let inputSize: { width: number; height: number };

type Shown = NonNullable<DemoState['detections']>;
const state = (): Promise<DemoState> =>
  opened.page.evaluate(() => JSON.parse(JSON.stringify((window as unknown as { demo: DemoState }).demo)));

/** Waits until the page's current action is over, then returns its state. */
async function settled(): Promise<DemoState> {
  await opened.page.waitForFunction(() => !(window as unknown as { demo: DemoState }).demo.busy, undefined, {
    timeout: 300_000,
  });
  return state();
}

async function detectInPage(): Promise<DemoState> {
  await opened.page.click('#detect');
  const result = await settled();
  expect(result.error).toBe('');
  return result;
}

function plain(d: Detections): Shown {
  return { scores: Array.from(d.scores), labels: Array.from(d.labels), boxes: Array.from(d.boxes) };
}

function expectSame(got: Shown, expected: Detections, atol: number) {
  expect(got.labels).toEqual(Array.from(expected.labels));
  assertAllClose(got.scores, Array.from(expected.scores), { atol, rtol: atol, name: 'scores' });
  assertAllClose(got.boxes, Array.from(expected.boxes), { atol, rtol: atol, name: 'boxes' });
}

/** Node's detections with the model in `bytes`, and the model's input transforms. */
function detectInNode(bytes: Uint8Array): { detections: Detections; transforms: TransformSpec[] } {
  const demo = loadDemoDetector(bytes, 'node');
  try {
    return { detections: demo.detect(sample).detections, transforms: demo.saved.detectTransforms };
  } finally {
    demo.dispose();
  }
}

beforeAll(async () => {
  await initBackend('wasm');
  sample = await decodeImage(samplePath, 'shapes-sample.png');
  const seeded = detectInNode(seededCheckpoint());
  seededNode = seeded.detections;
  const view = new SamplingPointsView();
  const prepared = prepareImage(sample, seeded.transforms);
  inputSize = { width: prepared.width, height: prepared.height };
  const input = tf.tensor4d(prepared.image, [1, prepared.height, prepared.width, 3]);
  view.setImage(input);
  points = view.points(PICK.x, PICK.y);
  input.dispose();
  view.dispose();
  opened = await openDemo();
  await opened.page.waitForFunction(() => 'demo' in window);
  const start = await settled();
  expect(start.error).toBe('');
}, 600_000); // Generous: Vite's build, Node's runs and Chromium's start on a loaded 2-core machine.

afterAll(() => opened?.close());

describe('the demo page in headless Chromium', () => {
  it('starts on wasm with the seeded model and the shapes sample', async () => {
    const s = await state();
    expect(s.backend).toBe('wasm');
    expect(s.model).toMatch(/^seeded model \(untrained\): deformable-detr, \d+ classes/);
    expect(s.image).toEqual({ width: sample.width, height: sample.height });
  });

  it('wasm: the seeded model detects what Node detects, to 1e-5, with every stage timed', async () => {
    const s = await detectInPage();
    expectSame(s.detections!, seededNode, 1e-5);
    for (const times of [s.times.first!, s.times.steady!])
      for (const ms of Object.values(times)) expect(Number.isFinite(ms) && ms >= 0).toBe(true);
  });

  it('the DCN view shows the sampling points of the clicked position, as Node computes them', async () => {
    const box = (await opened.page.locator('#dcn').boundingBox())!;
    await opened.page.mouse.click(
      box.x + ((PICK.x + 0.5) / inputSize.width) * box.width,
      box.y + ((PICK.y + 0.5) / inputSize.height) * box.height,
    );
    const shown = (await state()).points!;
    expect(shown.map((level) => level.length)).toEqual([9, 81]);
    for (const [l, level] of shown.entries())
      assertAllClose(
        level.flatMap((p) => [p.x, p.y, p.modulation]),
        points[l].flatMap((p) => [p.x, p.y, p.modulation]),
        { atol: 1e-4, rtol: 1e-4, name: `layer ${l}` },
      );
    // Drawn: the canvas holds the points' red.
    const red = await opened.page.evaluate(() => {
      const canvas = document.getElementById('dcn') as HTMLCanvasElement;
      const pixels = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      let count = 0;
      for (let i = 0; i < pixels.length; i += 4)
        if (pixels[i] > 180 && pixels[i + 1] < 90 && pixels[i + 2] < 90) count++;
      return count;
    });
    expect(red).toBeGreaterThan(20);
    const views = (await opened.page.locator('#views').boundingBox())!;
    await opened.page.screenshot({
      path: screenshotPath,
      clip: { x: 0, y: 0, width: 820, height: views.y + views.height + 8 },
    });
    expect(opened.errors).toEqual([]);
  });

  it('loads a checkpoint in the trainer format and detects what Node detects with it', async () => {
    const bytes = seededCheckpoint(1);
    await opened.page.setInputFiles('#checkpoint-file', {
      name: 'checkpoint.safetensors',
      mimeType: 'application/octet-stream',
      buffer: Buffer.from(bytes),
    });
    const loaded = await settled();
    expect(loaded.error).toBe('');
    expect(loaded.model).toMatch(/^checkpoint\.safetensors: deformable-detr/);
    expectSame((await detectInPage()).detections!, detectInNode(bytes).detections, 1e-5);
  });

  it('refuses a file that is not such a checkpoint, saying why, and keeps the model it had', async () => {
    const before = (await state()).model;
    await opened.page.setInputFiles('#checkpoint-file', {
      name: 'photo.safetensors',
      mimeType: 'application/octet-stream',
      buffer: readFileSync(samplePath),
    });
    const refused = await settled();
    expect(refused.error).toMatch(/^Loading photo\.safetensors failed: photo\.safetensors/);
    expect(refused.model).toBe(before);

    const detr = new DETR({ ...DETR_SMALL, numClasses: 3 });
    const config = { detector: 'detr', config: detr.config, classes: ['a', 'b', 'c'], categoryIds: [1, 2, 3] };
    const bytes = encodeCheckpoint({ model: detr, step: 0, epoch: 0, config: { ...config, detectTransforms: [] } });
    detr.dispose();
    await opened.page.setInputFiles('#checkpoint-file', {
      name: 'detr.safetensors',
      mimeType: 'application/octet-stream',
      buffer: Buffer.from(bytes),
    });
    expect((await settled()).error).toBe(
      'Loading detr.safetensors failed: detr.safetensors holds a DETR (detr), not the deformable-detr asked for',
    );
  });

  it(`webgl: the seeded model's top ${WEBGL.top} detections match Node's (scores ${WEBGL.score}, boxes ${WEBGL.box} px)`, async () => {
    await opened.page.click('#seeded');
    expect((await settled()).error).toBe('');
    await opened.page.selectOption('#backend', 'webgl');
    expect((await settled()).backend).toBe('webgl');
    const got = (await detectInPage()).detections!;
    const expected = plain(seededNode);
    for (let i = 0; i < WEBGL.top; i++) {
      const match = got.scores.findIndex(
        (score, j) =>
          got.labels[j] === expected.labels[i] &&
          Math.abs(score - expected.scores[i]) <= WEBGL.score &&
          [0, 1, 2, 3].every((k) => Math.abs(got.boxes[4 * j + k] - expected.boxes[4 * i + k]) <= WEBGL.box),
      );
      expect(
        match,
        `Node's detection ${i} (label ${expected.labels[i]}, score ${expected.scores[i]})`,
      ).toBeGreaterThanOrEqual(0);
    }
  });
});
