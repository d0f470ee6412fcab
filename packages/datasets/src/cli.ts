#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { generateShapes, SHAPES_KINDS, type ShapesKind } from './shapes/generate';

const USAGE = `usage: deformjs-shapes <kind> --out DIR [--seed N] [--count N] [--size N] [--val-count N] [--frames N] [--format jpeg|png]

Writes a synthetic shapes-world dataset in a real dataset's format:
  detection     COCO (annotations/instances_{train,val}.json, train/, val/)
  segmentation  PASCAL VOC 2012 (JPEGImages, SegmentationClass palette PNGs with 255 void, Annotations, ImageSets)
  cityscapes    Cityscapes (leftImg8bit, gtFine *_labelIds.png)
  video         ImageNet VID (Data/VID, Annotations/VID; --count is the number of videos, --frames per video)
  vqa           VQA v2 (questions and annotations JSON, COCO-named images)
  captions      Conceptual Captions TSV with precomputed boxes and RoI features

  --seed       generator seed (default 0)
  --count      training images or videos (default 200)
  --val-count  validation images or videos (default count / 5, at least 2)
  --size       longest image side in pixels (default 256)
  --frames     frames per video (video only, default 16)
  --format     image encoding (detection only, default jpeg)`;

function integer(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new Error(`--${name} must be a non-negative integer, got ${JSON.stringify(value)}`);
  return Number(value);
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      seed: { type: 'string' },
      count: { type: 'string' },
      'val-count': { type: 'string' },
      size: { type: 'string' },
      frames: { type: 'string' },
      format: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const kind = positionals[0];
  if (positionals.length !== 1 || !(SHAPES_KINDS as readonly string[]).includes(kind))
    throw new Error(`expected one kind (${SHAPES_KINDS.join(', ')}), got ${JSON.stringify(positionals)}`);
  if (!values.out) throw new Error('--out DIR is required');
  if (values.frames !== undefined && kind !== 'video')
    throw new Error(`--frames applies to 'video' only, not ${JSON.stringify(kind)}`);
  if (values.format !== undefined && kind !== 'detection')
    throw new Error(`--format applies to 'detection' only, not ${JSON.stringify(kind)}`);
  if (values.format !== undefined && values.format !== 'jpeg' && values.format !== 'png')
    throw new Error(`--format must be jpeg or png, got ${JSON.stringify(values.format)}`);
  const options = {
    out: values.out,
    seed: integer('seed', values.seed),
    count: integer('count', values.count),
    valCount: integer('val-count', values['val-count']),
    size: integer('size', values.size),
    frames: integer('frames', values.frames),
    format: values.format,
  };
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as typeof options;
  const start = performance.now();
  await generateShapes(kind as ShapesKind, defined);
  console.log(`wrote ${kind} to ${values.out} in ${((performance.now() - start) / 1000).toFixed(1)} s`);
}

main().catch((error: unknown) => {
  console.error(`deformjs-shapes: ${(error as Error).message}\n\n${USAGE}`);
  process.exitCode = 1;
});
