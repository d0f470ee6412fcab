import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { assertOneOf } from '@deformjs/core';
import { writeFileAtomic } from '@deformjs/core/node';
import { generateDetection } from './detection';
import { generateCaptions, generateVqa } from './language';
import { generateCityscapes, generateSegmentation } from './segmentation';
import { generateVideo } from './video';
import type { GenerateOptions } from './common';

export const SHAPES_KINDS = ['detection', 'segmentation', 'cityscapes', 'video', 'vqa', 'captions'] as const;
export type ShapesKind = (typeof SHAPES_KINDS)[number];

/** Runs the generator of one kind. */
export function generateShapes(kind: ShapesKind, options: GenerateOptions & Record<string, unknown>): Promise<unknown> {
  switch (kind) {
    case 'detection':
      return generateDetection(options);
    case 'segmentation':
      return generateSegmentation(options);
    case 'cityscapes':
      return generateCityscapes(options);
    case 'video':
      return generateVideo(options);
    case 'vqa':
      return generateVqa(options);
    case 'captions':
      return generateCaptions(options);
  }
}

const STAMP = 'deformjs-shapes.json';
let stagingCount = 0;

/**
 * A trainer's default dataset: generates `kind` into `<cacheDir>/<kind>-seed<seed>-n<count>-s<size>` unless a
 * complete copy is already there, and returns the folder. A kind's own options (video `frames`, `motionBlur`, `defocus`)
 * are part of the folder's name and stamp, so another setting never reuses the data of the first. The set is written into a private temporary folder
 * that is renamed into place when complete, so an interrupted run leaves no half dataset and two processes
 * generating at once do not mix their files.
 */
export async function ensureShapesDataset(
  kind: ShapesKind,
  cacheDir: string,
  options: Omit<GenerateOptions, 'out'> & Record<string, number | boolean> = {},
): Promise<string> {
  assertOneOf('ensureShapesDataset', 'kind', kind, SHAPES_KINDS);
  const { seed = 0, count = 200, size = 256, valCount, ...own } = options;
  const ownNames = Object.keys(own).sort();
  const out = join(
    cacheDir,
    `${kind}-seed${seed}-n${count}-s${size}${valCount === undefined ? '' : `-v${valCount}`}` +
      ownNames.map((name) => `-${name}${own[name]}`).join(''),
  );
  const stamp = join(out, STAMP);
  const wanted = {
    kind,
    seed,
    count,
    size,
    valCount: valCount ?? null,
    ...Object.fromEntries(ownNames.map((n) => [n, own[n]])),
  };
  const complete = () => existsSync(stamp) && readFileSync(stamp, 'utf8') === JSON.stringify(wanted);
  if (complete()) return out;
  const staging = `${out}.partial-${process.pid}-${Date.now()}-${stagingCount++}`;
  try {
    await generateShapes(kind, { ...options, out: staging, seed, count, size });
    writeFileAtomic(join(staging, STAMP), JSON.stringify(wanted));
    if (complete()) return out;
    rmSync(out, { recursive: true, force: true });
    renameSync(staging, out);
  } catch (error) {
    // Another process may have put its complete copy in place first.
    if (!complete()) throw error;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return out;
}
