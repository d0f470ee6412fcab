import { readdirSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@deformjs/core';
import { writeFileAtomic } from '@deformjs/core/node';
import { applyTransforms, decodeImage, drawBoxes, encodeImage, type Sample } from '@deformjs/datasets';
import { RunFolder } from '@deformjs/weights/node';
import { EVAL_TRANSFORMS, frameTensor, paddedSizeOf } from './data';
import { inferenceSettings, type VideoDesign, type VideoDesignKind } from './design';
import { componentTimer } from './evaluate';

const FRAME_EXTENSIONS = ['.jpg', '.jpeg', '.png'];
export const DETECTIONS = 'detections.json';

/** The files `run` writes in its `--out` (replaced on a new run; anything else there is left alone). */
export function ownedByRun(name: string): boolean {
  return name === DETECTIONS || /^frame-.+\.png$/.test(name);
}

export interface RunReport {
  frames: number;
  detections: number;
  fps: number;
  msPerFrame: number;
  components: Record<string, number>;
  keyFrames: number;
  /** Tracking designs: the number of distinct track ids reported. */
  tracks?: number;
}

/**
 * Runs a trained design over a folder of frames (JPEG/PNG, in file-name order, all of one size): writes
 * `frame-<name>.png` with the detections drawn and `detections.json` (per frame: file, key frame or not, boxes
 * xyxy in pixels, scores, labels and class names, and track ids for a tracking design, whose frames show every
 * reported box coloured by track; the timing), atomically, into `out`.
 */
export async function runOnFrames(
  design: VideoDesign,
  kind: VideoDesignKind,
  classes: readonly string[],
  framesDir: string,
  out: string,
  given: Record<string, number>,
): Promise<RunReport> {
  if (!statSync(framesDir, { throwIfNoEntry: false })?.isDirectory())
    throw new Error(`--frames ${framesDir} is not a folder`);
  if (resolve(out) === resolve(framesDir))
    throw new Error(`--out must differ from --frames (${framesDir}): run never writes among your frames`);
  const files = readdirSync(framesDir)
    .filter((name) => FRAME_EXTENSIONS.includes(extname(name).toLowerCase()))
    .sort();
  if (files.length === 0) throw new Error(`${framesDir} holds no JPEG or PNG frames`);
  const inference = inferenceSettings(kind, given);
  const images = await Promise.all(files.map((file) => decodeImage(join(framesDir, file), file)));
  const { width, height } = images[0];
  images.forEach((image, i) => {
    if (image.width !== width || image.height !== height)
      throw new Error(
        `${join(framesDir, files[i])} is ${image.width} x ${image.height}, but the video's first frame ${files[0]} is ${width} x ${height}`,
      );
  });
  const folder = RunFolder.open(out, { program: 'run', owns: ownedByRun, fresh: true });
  try {
    const rng = new Rng(0);
    const padded = paddedSizeOf(height, width);
    const frames = images.map((image, i) => {
      const sample: Sample = {
        id: files[i],
        image: image.data,
        width,
        height,
        origWidth: width,
        origHeight: height,
        boxes: new Float32Array(0),
        labels: new Int32Array(0),
        iscrowd: new Uint8Array(0),
        area: new Float32Array(0),
      };
      return frameTensor(applyTransforms(sample, EVAL_TRANSFORMS, rng), padded);
    });
    const { timer, components } = componentTimer();
    design.model.eval();
    const start = performance.now();
    const result = design.detectVideo(frames, [height, width], inference, timer);
    const milliseconds = performance.now() - start;
    tf.dispose(frames);
    let count = 0;
    const perFrame = files.map((file, i) => {
      const d = result.detections[i];
      count += d.scores.length;
      return {
        file,
        keyFrame: result.keyFrames[i],
        boxes: Array.from({ length: d.scores.length }, (_, k) => Array.from(d.boxes.subarray(4 * k, 4 * k + 4))),
        scores: Array.from(d.scores),
        labels: Array.from(d.labels),
        classes: Array.from(d.labels, (label) => classes[label]),
        ...(result.trackIds ? { trackIds: Array.from(result.trackIds[i]) } : {}),
      };
    });
    for (const [i, image] of images.entries()) {
      // Tracks: every reported box, coloured by its track id; detections: the confident ones by class.
      const trackIds = result.trackIds?.[i];
      if (trackIds) drawBoxes(image, { ...result.detections[i], labels: trackIds }, 0);
      else drawBoxes(image, result.detections[i]);
      writeFileAtomic(folder.path(`frame-${files[i]}.png`), await encodeImage(image, 'png'));
    }
    const report: RunReport = {
      frames: files.length,
      detections: count,
      fps: files.length / (milliseconds / 1000),
      msPerFrame: milliseconds / files.length,
      components: Object.fromEntries(Object.entries(components).map(([k, v]) => [k, v / files.length])),
      keyFrames: result.keyFrames.filter(Boolean).length,
      ...(result.trackIds ? { tracks: new Set(result.trackIds.flatMap((ids) => Array.from(ids))).size } : {}),
    };
    writeFileAtomic(
      folder.path(DETECTIONS),
      JSON.stringify({ design: kind.name, inference, ...report, perFrame }, null, 1) + '\n',
    );
    return report;
  } finally {
    folder.release();
  }
}
