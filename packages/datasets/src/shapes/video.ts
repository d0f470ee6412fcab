import { writeFileAtomic } from '@deformjs/core/node';
import { join } from 'node:path';
import { assertInteger, type Rng } from '@deformjs/core';
import { el, writeXml } from '../formats/xml';
import {
  generatedImage,
  resolveOptions,
  sampleImageSize,
  splitRngs,
  WriteQueue,
  writeImage,
  type GeneratedImage,
  type GenerateOptions,
} from './common';
import {
  BACKGROUND_TONES,
  clipPolygon,
  paintBackground,
  sampleStyle,
  SHAPE_CLASSES,
  SHAPE_COLORS,
  shapePolygon,
  type PaintStyle,
  type ShapePose,
} from './raster';
import { renderScene, type RenderedScene, type SceneObject } from './scene';

export interface VideoGenerateOptions extends GenerateOptions {
  /** Frames per video; default 16. */
  frames?: number;
  /** Objects per video, 1..maxObjects; default 3. */
  maxObjects?: number;
}

export interface VidDatasetFiles {
  root: string;
  classes: readonly string[];
  /** One entry per frame, id `<video>/<frame %06d>`, with track ids. */
  images: GeneratedImage[];
  /** Per video and track: the motion kind it was given. */
  tracks: { video: string; trackId: number; shape: number; speed: 'slow' | 'medium' | 'fast' }[];
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

function poseAt(track: Track, t: number): ShapePose {
  return {
    shape: track.shape,
    cx: track.cx,
    cy: track.cy,
    radius: track.radius * (1 + track.pulse * Math.sin(track.phase + (2 * Math.PI * t) / track.period)),
    angle: track.angle + track.spin * t,
  };
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
 * while at least a fifth of it (and 16 pixels) is visible.
 */
export async function generateVideo(options: VideoGenerateOptions): Promise<VidDatasetFiles> {
  const { out, seed, count, valCount, size } = resolveOptions('generateVideo', options);
  const { frames = 16, maxObjects = 3 } = options;
  assertInteger('generateVideo', 'frames', frames, 1);
  const rngs = splitRngs(seed);
  const queue = new WriteQueue();
  const images: GeneratedImage[] = [];
  const tracks: VidDatasetFiles['tracks'] = [];
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
      motion.forEach((t, trackId) => tracks.push({ video, trackId, shape: t.shape, speed: t.speed }));
      for (let f = 0; f < frames; f++) {
        const objects: SceneObject[] = motion.map((track) => {
          const pose = poseAt(track, f);
          return {
            shape: track.shape,
            color: track.color,
            style: track.style,
            iscrowd: false,
            polygons: [clipPolygon(shapePolygon(pose), width, height)].filter((p) => p.length >= 6),
            pose,
          };
        });
        const scene = renderScene(videoRng, width, height, background, objects);
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
    }
  }
  await queue.drain();
  return { root: out, classes: SHAPE_CLASSES, images, tracks };
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
