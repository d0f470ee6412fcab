import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isRecord } from '@deformjs/validate';
import { formatError } from './errors';
import { readJson } from './files';
import { decodeFlo } from './formats/flo';
import { decodeLabelPng } from './formats/png';
import type { GroundTruthFlow } from './shapes/flow';
import type { ShapePose } from './shapes/raster';
import type { VideoMotion } from './shapes/video';

function motionDir(root: string, split: string, video: string): string {
  return join(root, 'Motion', 'VID', split, video);
}

function readBytes(file: string, what: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(file));
  } catch (error) {
    throw formatError(file, '', `cannot read the ${what} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
}

/**
 * Reads the poses the shapes-video generator recorded for one video (`Motion/VID/<split>/<video>/poses.json`):
 * its size, `poses[frame][trackId]` (centre, circumradius, rotation) and, generated with defocus, each frame's
 * blur-disk radius. Every field is checked.
 */
export function loadVideoMotion(root: string, split: string, video: string): VideoMotion {
  const file = join(motionDir(root, split, video), 'poses.json');
  const json = readJson(file);
  const fail = (record: string, problem: string): never => {
    throw formatError(file, record, problem);
  };
  if (!isRecord(json)) return fail('', 'expected an object { split, video, width, height, poses }');
  const { width, height, poses } = json;
  for (const [key, value] of [
    ['width', width],
    ['height', height],
  ] as const)
    if (!(Number.isInteger(value) && (value as number) > 0)) fail(key, `expected a positive integer, got ${value}`);
  if (json.split !== split || json.video !== video)
    fail('', `records video ${String(json.split)}/${String(json.video)}, expected ${split}/${video}`);
  if (!Array.isArray(poses)) return fail('poses', 'expected an array of frames');
  const frames = poses.map((frame: unknown, f): ShapePose[] => {
    if (!Array.isArray(frame)) return fail(`poses[${f}]`, 'expected an array of track poses');
    if (f > 0 && frame.length !== (poses[0] as unknown[]).length)
      fail(`poses[${f}]`, `${frame.length} tracks, frame 0 has ${(poses[0] as unknown[]).length}`);
    return frame.map((pose: unknown, j): ShapePose => {
      const where = `poses[${f}][${j}]`;
      if (!isRecord(pose)) return fail(where, 'expected { shape, cx, cy, radius, angle }');
      for (const key of ['shape', 'cx', 'cy', 'radius', 'angle'])
        if (typeof pose[key] !== 'number' || !Number.isFinite(pose[key]))
          fail(where, `${key} must be a finite number, got ${JSON.stringify(pose[key])}`);
      if ((pose.radius as number) <= 0) fail(where, `radius must be positive, got ${pose.radius}`);
      const { shape, cx, cy, radius, angle } = pose as unknown as ShapePose;
      return { shape, cx, cy, radius, angle };
    });
  });
  const { defocus } = json;
  if (
    defocus !== undefined &&
    !(
      Array.isArray(defocus) &&
      defocus.length === frames.length &&
      defocus.every((r) => typeof r === 'number' && Number.isFinite(r) && r >= 0)
    )
  )
    fail('defocus', `expected one finite radius >= 0 per frame (${frames.length}), got ${JSON.stringify(defocus)}`);
  return {
    split: split as VideoMotion['split'],
    video,
    width: width as number,
    height: height as number,
    poses: frames,
    ...(defocus === undefined ? {} : { defocus: defocus as number[] }),
  };
}

/**
 * Reads the ground-truth flow from frame `t` to frame `k` of a shapes video (written by `generateVideo` with
 * `flowOffsets` containing k - t): the `.flo` file and its valid mask, both checked against the video's size
 * before anything is allocated. The direction convention is `groundTruthFlow`'s: backward flow, frame t
 * sampled from frame k at p + flow(p).
 */
export function loadGroundTruthFlow(
  root: string,
  split: string,
  video: string,
  t: number,
  k: number,
  size: { width: number; height: number },
): GroundTruthFlow {
  const name = `${String(t).padStart(6, '0')}_${String(k).padStart(6, '0')}`;
  const floFile = join(motionDir(root, split, video), `${name}.flo`);
  const maskFile = join(motionDir(root, split, video), `${name}.png`);
  const { width, height, flow } = decodeFlo(readBytes(floFile, 'flow file'), floFile, { expected: size });
  const mask = decodeLabelPng(readBytes(maskFile, 'valid mask'), maskFile, { expected: size });
  for (let p = 0; p < mask.data.length; p++)
    if (mask.data[p] > 1)
      throw formatError(
        maskFile,
        'PNG',
        `valid mask value ${mask.data[p]} at pixel (x ${p % width}, y ${Math.floor(p / width)}) is neither 0 nor 1`,
      );
  return { width, height, flow, valid: mask.data };
}
