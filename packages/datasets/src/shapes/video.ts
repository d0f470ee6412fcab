import { writeFileAtomic } from '@deformjs/core/node';
import { join } from 'node:path';
import { argumentError, assertInteger, Rng } from '@deformjs/core';
import { encodeFlo } from '../formats/flo';
import { encodeLabelPng } from '../formats/png';
import { el, writeXml } from '../formats/xml';
import {
  generatedImage,
  resolveOptions,
  sampleImageSize,
  splitRngs,
  WriteQueue,
  writeImage,
  writeJson,
  type GeneratedImage,
  type GenerateOptions,
} from './common';
import {
  BACKGROUND_TONES,
  clipPolygon,
  diskBlur,
  paintBackground,
  sampleStyle,
  SHAPE_CLASSES,
  SHAPE_COLORS,
  shapePolygon,
  type PaintStyle,
  type ShapePose,
} from './raster';
import { groundTruthFlow, type FlowFrame } from './flow';
import { renderScene, type RenderedScene, type SceneObject } from './scene';

export interface VideoGenerateOptions extends GenerateOptions {
  /** Frames per video; default 16 (DFF's key interval 10 and FGFA's +-9 references need 20 or more). */
  frames?: number;
  /** Objects per video, 1..maxObjects; default 3. */
  maxObjects?: number;
  /**
   * Motion blur: the exposure as a fraction of the frame interval (0 = sharp, the default; 1 = the shutter is
   * open the whole interval). Each frame averages renders at poses spread over the exposure, centred on the
   * frame's pose, so a track's blur is its speed times the exposure: fast tracks smear, slow ones stay sharp.
   * Annotations, owner maps and flow are those of the centre pose.
   */
  motionBlur?: number;
  /**
   * Defocus: the largest blur-disk radius in pixels at a 256 px long side (scaled with `size`; 0 = always in
   * focus, the default; at most 16). Now and then the camera loses focus and finds it again: a focus event blurs
   * 3 to 6 consecutive frames with a disk whose radius rises and falls (`diskBlur`; peak 0.5 to 1 x `defocus`).
   * Events start more often in videos with fast tracks (autofocus loses fast objects): in each frame outside an
   * event with probability 0.05 + 0.3 x min(1, v / 11), v the fastest track's centre speed in pixels per frame
   * at 256 px. Each frame's radius is recorded (`videos[i].defocus`, poses.json). The events come from a
   * generator of their own: shapes, textures, annotations, owner maps and flow are those of the same seed
   * without defocus, and a larger `defocus` scales every radius of the same events.
   */
  defocus?: number;
  /**
   * Ground-truth flow files to write: for every frame t and offset d with t + d inside the video, the backward
   * flow from frame t to frame t + d (`groundTruthFlow`) as `Motion/VID/<split>/<video>/<t>_<t+d>.flo` and its
   * valid mask as `<t>_<t+d>.png`. Default none.
   */
  flowOffsets?: readonly number[];
}

/** Per video: its size and every track's pose in every frame (`poses[frame][trackId]`). */
export interface VideoMotion {
  split: 'train' | 'val';
  video: string;
  width: number;
  height: number;
  poses: ShapePose[][];
  /** Generated with `defocus`: each frame's blur-disk radius in pixels (0 = in focus). */
  defocus?: number[];
}

export interface VidDatasetFiles {
  root: string;
  classes: readonly string[];
  /** One entry per frame, id `<video>/<frame %06d>`, with track ids. */
  images: GeneratedImage[];
  /** Per video and track: the motion kind it was given and its speed (centre pixels per frame). */
  tracks: VideoTrack[];
  /** Per video: the recorded poses (also written as `Motion/VID/<split>/<video>/poses.json`). */
  videos: VideoMotion[];
}

export interface VideoTrack {
  video: string;
  trackId: number;
  shape: number;
  speed: 'slow' | 'medium' | 'fast';
  /** The speed of the centre in pixels per frame (constant: bounces only turn it). */
  pixelsPerFrame: number;
}

interface Track {
  shape: number;
  color: number;
  style: PaintStyle;
  speed: 'slow' | 'medium' | 'fast';
  cx: number;
  cy: number;
  vx: number;
  vy: number;
  radius: number;
  angle: number;
  spin: number;
  pulse: number;
  period: number;
  phase: number;
}

/** Pixels per frame at a 256 px long side, by motion kind (VID's slow/medium/fast split by motion IoU). */
const SPEEDS = { slow: [0.3, 1.5], medium: [2, 4], fast: [6, 11] } as const;

/**
 * The speed bin the generator gave a track moving `pixelsPerFrame` (its centre's speed) in videos of longest side
 * `size`: the ranges above scaled by size / 256, split halfway between them (slow below 1.75, fast from 5).
 */
export function speedBin(pixelsPerFrame: number, size: number): 'slow' | 'medium' | 'fast' {
  const v = (pixelsPerFrame * 256) / size;
  return v < (SPEEDS.slow[1] + SPEEDS.medium[0]) / 2
    ? 'slow'
    : v < (SPEEDS.medium[1] + SPEEDS.fast[0]) / 2
      ? 'medium'
      : 'fast';
}

function sampleTrack(rng: Rng, width: number, height: number, scale: number): Track {
  const short = Math.min(width, height);
  const speed = (['slow', 'medium', 'fast'] as const)[rng.int(3)];
  const [lo, hi] = SPEEDS[speed];
  const v = rng.uniform(lo, hi) * scale;
  const heading = rng.uniform(0, 2 * Math.PI);
  const radius = Math.exp(rng.uniform(Math.log(0.06 * short), Math.log(0.22 * short)));
  const color = rng.int(SHAPE_COLORS.length);
  return {
    shape: rng.int(SHAPE_CLASSES.length),
    color,
    style: sampleStyle(rng, SHAPE_COLORS[color].rgb),
    speed,
    cx: rng.uniform(radius, width - radius),
    cy: rng.uniform(radius, height - radius),
    vx: v * Math.cos(heading),
    vy: v * Math.sin(heading),
    radius,
    angle: rng.uniform(0, 2 * Math.PI),
    spin: (speed === 'fast' ? rng.uniform(0.05, 0.2) : rng.uniform(0, 0.04)) * (rng.next() < 0.5 ? -1 : 1),
    pulse: rng.uniform(0, 0.3),
    period: rng.uniform(10, 40),
    phase: rng.uniform(0, 2 * Math.PI),
  };
}

/** The pose at frame t, or `dt` frames after it along the current velocity (for motion blur). */
function poseAt(track: Track, t: number, dt = 0): ShapePose {
  const time = t + dt;
  return {
    shape: track.shape,
    cx: track.cx + track.vx * dt,
    cy: track.cy + track.vy * dt,
    radius: track.radius * (1 + track.pulse * Math.sin(track.phase + (2 * Math.PI * time) / track.period)),
    angle: track.angle + track.spin * time,
  };
}

function sceneObjects(
  motion: readonly Track[],
  poses: readonly ShapePose[],
  width: number,
  height: number,
): SceneObject[] {
  return motion.map((track, j) => ({
    shape: track.shape,
    color: track.color,
    style: track.style,
    iscrowd: false,
    polygons: [clipPolygon(shapePolygon(poses[j]), width, height)].filter((p) => p.length >= 6),
    pose: poses[j],
  }));
}

/**
 * The frame seen through a shutter open for `exposure` frame intervals: the mean of renders at poses spread
 * evenly over it, as many as the fastest point (centre speed plus rotation at the rim) needs to move about one
 * pixel between renders (at most 16).
 */
function blurredImage(
  rng: Rng,
  motion: readonly Track[],
  t: number,
  exposure: number,
  width: number,
  height: number,
  background: { image: Uint8Array; tone: number },
): Uint8Array {
  const fastest = Math.max(...motion.map((m) => Math.hypot(m.vx, m.vy) + Math.abs(m.spin) * m.radius));
  const renders = Math.min(16, Math.max(1, Math.ceil(fastest * exposure)));
  const sum = new Float64Array(width * height * 3);
  for (let s = 0; s < renders; s++) {
    const dt = exposure * ((s + 0.5) / renders - 0.5);
    const poses = motion.map((track) => poseAt(track, t, dt));
    const { image } = renderScene(rng, width, height, background, sceneObjects(motion, poses, width, height));
    for (let i = 0; i < sum.length; i++) sum[i] += image[i];
  }
  return Uint8Array.from(sum, (v) => Math.round(v / renders));
}

/**
 * Each frame's blur-disk radius for a video: focus events of 3 to 6 frames, radius rising and falling to a peak
 * of 0.5 to 1 x `peak`, starting with probability `chance` in each frame outside an event.
 */
function focusSchedule(rng: Rng, frames: number, chance: number, peak: number): number[] {
  const radius = new Array<number>(frames).fill(0);
  for (let f = 0; f < frames;) {
    if (rng.next() >= chance) {
      f++;
      continue;
    }
    const length = 3 + rng.int(4);
    const top = peak * rng.uniform(0.5, 1);
    for (let i = 0; i < length && f + i < frames; i++)
      radius[f + i] = top * Math.sin((Math.PI * (i + 1)) / (length + 1));
    f += length;
  }
  return radius;
}

/** Moves a track one frame, bouncing off the image borders. */
function step(track: Track, width: number, height: number): void {
  track.cx += track.vx;
  track.cy += track.vy;
  if (track.cx < 0 || track.cx > width) {
    track.vx = -track.vx;
    track.cx = Math.min(width, Math.max(0, track.cx));
  }
  if (track.cy < 0 || track.cy > height) {
    track.vy = -track.vy;
    track.cy = Math.min(height, Math.max(0, track.cy));
  }
}

/**
 * Writes the shapes video set in ImageNet VID layout: Data/VID/{train,val}/<video>/%06d.JPEG and
 * Annotations/VID/{train,val}/<video>/%06d.xml with per-object trackid, name (the shape), bndbox (continuous
 * xyxy), occluded and generated. Each video holds shapes moving slowly or fast, rotating and pulsing in size,
 * bouncing off the borders, occluding each other, with stable track ids; an object is annotated in a frame
 * while at least a fifth of it (and 16 pixels) is visible. Every video's poses go to
 * Motion/VID/{split}/<video>/poses.json, with the ground-truth flow of `flowOffsets` beside them; `motionBlur`
 * smears each frame over its exposure, `defocus` blurs the frames of focus events.
 */
export async function generateVideo(options: VideoGenerateOptions): Promise<VidDatasetFiles> {
  const { out, seed, count, valCount, size } = resolveOptions('generateVideo', options);
  const { frames = 16, maxObjects = 3, motionBlur = 0, defocus = 0, flowOffsets = [] } = options;
  assertInteger('generateVideo', 'frames', frames, 1);
  if (!(typeof motionBlur === 'number' && motionBlur >= 0 && motionBlur <= 1))
    throw argumentError(
      'generateVideo',
      'motionBlur',
      'an exposure in [0, 1] (fraction of the frame interval)',
      motionBlur,
    );
  if (!(typeof defocus === 'number' && defocus >= 0 && defocus <= 16))
    throw argumentError('generateVideo', 'defocus', 'a blur-disk radius in [0, 16] pixels (at 256 px)', defocus);
  if (!Array.isArray(flowOffsets) || flowOffsets.some((d) => !Number.isInteger(d) || d === 0))
    throw argumentError('generateVideo', 'flowOffsets', 'an array of non-zero integer frame offsets', flowOffsets);
  const rngs = splitRngs(seed);
  const queue = new WriteQueue();
  const images: GeneratedImage[] = [];
  const tracks: VideoTrack[] = [];
  const videos: VideoMotion[] = [];
  for (const [split, rng, n] of [
    ['train', rngs.train, count],
    ['val', rngs.val, valCount],
  ] as const) {
    for (let v = 0; v < n; v++) {
      const videoRng = rng.fork();
      const video = `shapes_${split}_${String(v).padStart(8, '0')}`;
      const { width, height } = sampleImageSize(videoRng, size);
      const tone = videoRng.int(BACKGROUND_TONES.length);
      const background = { image: paintBackground(videoRng, width, height, BACKGROUND_TONES[tone].rgb), tone };
      const motion = Array.from({ length: 1 + videoRng.int(maxObjects) }, () =>
        sampleTrack(videoRng, width, height, size / 256),
      );
      motion.forEach((t, trackId) =>
        tracks.push({ video, trackId, shape: t.shape, speed: t.speed, pixelsPerFrame: Math.hypot(t.vx, t.vy) }),
      );
      const recorded: VideoMotion = { split, video, width, height, poses: [] };
      if (defocus > 0) {
        // A copy of the video's generator forks the events' own, so the video's draws are those without defocus.
        const fastest = Math.max(...motion.map((m) => Math.hypot(m.vx, m.vy))) / (size / 256);
        const chance = 0.05 + 0.3 * Math.min(1, fastest / SPEEDS.fast[1]);
        recorded.defocus = focusSchedule(new Rng(videoRng.state()).fork(), frames, chance, (defocus * size) / 256);
      }
      const flowFrames: FlowFrame[] = [];
      for (let f = 0; f < frames; f++) {
        const poses = motion.map((track) => poseAt(track, f));
        const sharp = renderScene(videoRng, width, height, background, sceneObjects(motion, poses, width, height));
        const exposed =
          motionBlur > 0
            ? { ...sharp, image: blurredImage(videoRng, motion, f, motionBlur, width, height, background) }
            : sharp;
        const radius = recorded.defocus?.[f] ?? 0;
        const scene = radius > 0 ? { ...exposed, image: diskBlur(exposed.image, width, height, radius) } : exposed;
        recorded.poses.push(poses);
        flowFrames.push({ poses, owner: scene.owner });
        const annotated = scene.objects.filter((o) => o.area >= 16 && o.area >= 0.2 * o.fullArea);
        const frameName = String(f).padStart(6, '0');
        writeFileAtomic(
          join(out, 'Annotations', 'VID', split, video, `${frameName}.xml`),
          vidFrameXml(video, frameName, scene, annotated),
        );
        images.push({
          ...generatedImage(split, `${video}/${frameName}`, scene, annotated),
          trackIds: annotated.map((o) => o.index),
        });
        await queue.add(writeImage(join(out, 'Data', 'VID', split, video, `${frameName}.JPEG`), scene, 'jpeg'));
        motion.forEach((track) => step(track, width, height));
      }
      const motionDir = join(out, 'Motion', 'VID', split, video);
      writeJson(join(motionDir, 'poses.json'), recorded);
      for (let t = 0; t < frames; t++) {
        for (const d of flowOffsets) {
          if (t + d < 0 || t + d >= frames) continue;
          const { flow, valid } = groundTruthFlow(flowFrames[t], flowFrames[t + d], width, height);
          const name = `${String(t).padStart(6, '0')}_${String(t + d).padStart(6, '0')}`;
          writeFileAtomic(join(motionDir, `${name}.flo`), encodeFlo({ width, height, flow }));
          writeFileAtomic(join(motionDir, `${name}.png`), encodeLabelPng({ width, height, data: valid }));
        }
      }
      videos.push(recorded);
    }
  }
  await queue.drain();
  return { root: out, classes: SHAPE_CLASSES, images, tracks, videos };
}

function vidFrameXml(video: string, frame: string, scene: RenderedScene, objects: RenderedScene['objects']): string {
  const body = objects.map((o) => {
    const [x0, y0, x1, y1] = o.box;
    return el(
      'object',
      el('trackid', o.index),
      el('name', SHAPE_CLASSES[o.shape]),
      el('bndbox', el('xmax', x1), el('xmin', x0), el('ymax', y1), el('ymin', y0)),
      el('occluded', o.area < o.fullArea ? 1 : 0),
      el('generated', 0),
    );
  });
  return writeXml(
    el(
      'annotation',
      el('folder', video),
      el('filename', frame),
      el('source', el('database', 'ILSVRC_2015')),
      el('size', el('width', scene.width), el('height', scene.height)),
      ...body,
    ),
  );
}
