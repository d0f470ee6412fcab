import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { argumentError } from '@deformjs/core';
import { checkBox } from './boxes';
import { formatError } from './errors';
import { readJson, readText, RecordReader, requireFile } from './files';
import { decodeImage } from './image';
import type { RgbImage } from './types';

/**
 * Conceptual Captions with precomputed regions. The TSV is the official one (`caption<TAB>url`, no header).
 * Regions for a row live in `<featureDir>/<key>.json` and `<featureDir>/<key>.bin`, where `key` is
 * `captionKey(url)` (the first 16 hex digits of the URL's SHA-1):
 *
 * - JSON: `{ "image_w": W, "image_h": H, "num_boxes": N, "feature_dim": D, "boxes": [[x0, y0, x1, y1], ...],
 *   "classes": [c0, ...] }` with boxes in pixels (xyxy) and `classes` (optional) the detector's class per box.
 * - BIN: N x D float32, little-endian, row-major: the RoI feature of box i at floats [i*D, (i+1)*D).
 *
 * The downloaded image, when present, is `<imageDir>/<key>.jpg`.
 */
export function captionKey(url: string): string {
  return createHash('sha1').update(url).digest('hex').slice(0, 16);
}

export interface CaptionRecord {
  caption: string;
  url: string;
  key: string;
  /** Source line (1-based), for messages. */
  line: number;
}

export interface CaptionRegions {
  width: number;
  height: number;
  /** N x 4 xyxy pixels. */
  boxes: Float32Array;
  /** N x D. */
  features: Float32Array;
  featureDim: number;
  classes?: Int32Array;
}

export interface CaptionsDataset {
  records: CaptionRecord[];
  /** Reads and checks a row's boxes and features. */
  regions(index: number): CaptionRegions;
  /** Decodes a row's image (requires `imageDir`). */
  image(index: number): Promise<RgbImage>;
}

export interface CaptionsLoadOptions {
  tsvFile: string;
  featureDir: string;
  imageDir?: string;
}

/** Loads a Conceptual Captions TSV; every row must have its region files (checked up front). */
export function loadConceptualCaptions({ tsvFile, featureDir, imageDir }: CaptionsLoadOptions): CaptionsDataset {
  const records: CaptionRecord[] = [];
  readText(tsvFile, 'captions TSV')
    .split('\n')
    .forEach((text, i) => {
      const line = text.endsWith('\r') ? text.slice(0, -1) : text;
      if (line === '') return;
      const fields = line.split('\t');
      if (fields.length !== 2 || fields[0].trim() === '' || fields[1].trim() === '') {
        throw formatError(
          tsvFile,
          `line ${i + 1}`,
          `expected caption<TAB>url, got ${fields.length} field(s): ${JSON.stringify(line.slice(0, 80))}`,
        );
      }
      const key = captionKey(fields[1]);
      requireFile(join(featureDir, `${key}.json`), tsvFile, `line ${i + 1} (${fields[1]}) regions`);
      requireFile(join(featureDir, `${key}.bin`), tsvFile, `line ${i + 1} (${fields[1]}) features`);
      records.push({ caption: fields[0], url: fields[1], key, line: i + 1 });
    });
  return {
    records,
    regions: (index) => loadRegions(featureDir, records[index].key, records[index].url),
    image: (index) => {
      if (!imageDir)
        throw argumentError('loadConceptualCaptions', 'imageDir', 'the images folder (to decode images)', imageDir);
      const path = join(imageDir, `${records[index].key}.jpg`);
      if (!existsSync(path)) throw formatError(tsvFile, `line ${records[index].line}`, `image not found: ${path}`);
      return decodeImage(path, `line ${records[index].line}`);
    },
  };
}

/**
 * Reads and checks one image's regions, `<featureDir>/<key>.json` and `.bin` in the format above (shared by
 * the captions, the synthetic VQA and the referring-expression sets). `source` names the image in messages.
 */
export function loadRegions(featureDir: string, key: string, source = key): CaptionRegions {
  const jsonFile = join(featureDir, `${key}.json`);
  const binFile = join(featureDir, `${key}.bin`);
  const r = new RecordReader(jsonFile, `regions of ${source}`, readJson(jsonFile));
  const width = r.number('image_w', { integer: true, min: 1 });
  const height = r.number('image_h', { integer: true, min: 1 });
  const n = r.number('num_boxes', { integer: true, min: 0 });
  const featureDim = r.number('feature_dim', { integer: true, min: 1 });
  const rawBoxes = r.raw('boxes');
  if (!Array.isArray(rawBoxes) || rawBoxes.length !== n) r.fail(`"boxes" must hold num_boxes = ${n} boxes`);
  const boxes = new Float32Array(4 * n);
  (rawBoxes as unknown[]).forEach((b, i) => {
    const box = new RecordReader(jsonFile, `${r.record}, box ${i}`, { b }).numbers('b', 4) as [
      number,
      number,
      number,
      number,
    ];
    boxes.set(
      checkBox(box, width, height, (problem) => r.fail(`box ${i}: ${problem}`)),
      4 * i,
    );
  });
  let classes: Int32Array | undefined;
  if (r.has('classes')) {
    const c = r.raw('classes');
    if (!Array.isArray(c) || c.length !== n || c.some((v) => !Number.isInteger(v) || v < 0))
      r.fail(`"classes" must be ${n} non-negative integers`);
    classes = Int32Array.from(c as number[]);
  }
  const bytes = readFileSync(binFile);
  if (bytes.byteLength !== n * featureDim * 4) {
    throw formatError(
      binFile,
      `features of ${source}`,
      `holds ${bytes.byteLength} bytes, expected num_boxes ${n} x feature_dim ${featureDim} x 4`,
    );
  }
  const features = new Float32Array(n * featureDim);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < features.length; i++) features[i] = view.getFloat32(4 * i, true);
  if (features.some((v) => !Number.isFinite(v)))
    throw formatError(binFile, `features of ${source}`, 'holds non-finite values');
  return classes
    ? { width, height, boxes, features, featureDim, classes }
    : { width, height, boxes, features, featureDim };
}
