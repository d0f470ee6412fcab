import { loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { wasmThreads } from '@deformjs/core';
import { createProgress } from '@deformjs/core/node';
import type { VidDataset } from '@deformjs/datasets';
import {
  clearMot,
  evaluateVid,
  identityF1,
  trackJitter,
  type MotFrame,
  type VidDetection,
  type VidFrame,
} from '@deformjs/metrics';
import type { Timer } from '@deformjs/video-det';
import { loadVideoFrames, type SpeedBins } from './data';
import { inferenceSettings, type VideoDesign, type VideoDesignKind } from './design';

/** The validation numbers of one design at one inference setting. */
export interface EvalReport {
  design: string;
  inference: Record<string, number>;
  /** VID mAP over all objects and by motion speed (FGFA's motion-IoU bins), with the ground truth in each. */
  ranges: { label: string; mAP: number; positives: number }[];
  /**
   * Shapes videos: the same mAP split by the speed the generator gave each track (slow, medium, fast), for toy
   * videos whose small, quick shapes put almost every object in the motion-IoU "fast" bin.
   */
  speedRanges?: { label: string; mAP: number; positives: number }[];
  videos: number;
  frames: number;
  /** Frames per second and milliseconds per frame of the design's inference (decoding left out). */
  fps: number;
  msPerFrame: number;
  /** Milliseconds per frame by component (feature network, flow, warp, aggregation, task network). */
  components: Record<string, number>;
  /** The fraction of frames that ran the whole feature network. */
  keyFrameFraction: number;
  /** Partial updating designs: the mean fraction of positions recomputed per frame. */
  updatedFraction?: number;
  /**
   * Shapes videos, grouped by the speed bin of each video's fastest track: videos, frames, the fraction of key
   * frames and of recomputed positions (partial updating), to see whether adaptive key frames follow the speed.
   */
  videoSpeeds?: VideoSpeedRow[];
  /**
   * Tracking designs, against the ground-truth tracks (IoU 0.5): CLEAR MOT's MOTA, ID switches, false positives
   * and negatives, IDF1, and box jitter (@deformjs/metrics `trackJitter`, with the number of frame pairs it averages).
   */
  tracking?: {
    mota: number;
    idf1: number;
    idSwitches: number;
    falsePositives: number;
    falseNegatives: number;
    jitter: number;
    jitterPairs: number;
  };
  /** Process CPU seconds of inference and the 1-minute load average at the end: wall times need both. */
  cpuSeconds: number;
  loadAverage: number;
  /** The backend the times were taken on, and its thread count (wasm; null on other backends). */
  backend: string;
  threads: number | null;
}

export interface VideoSpeedRow {
  label: 'slow' | 'medium' | 'fast';
  videos: number;
  frames: number;
  keyFrameFraction: number;
  updatedFraction?: number;
}

const SPEED_ORDER = ['slow', 'medium', 'fast'] as const;

/** A timer that adds each component's milliseconds into `components`. */
export function componentTimer(): { timer: Timer; components: Record<string, number> } {
  const components: Record<string, number> = {};
  const timer: Timer = (component, run) => {
    const start = performance.now();
    try {
      return run();
    } finally {
      components[component] = (components[component] ?? 0) + performance.now() - start;
    }
  };
  return { timer, components };
}

/** Box k of continuous xyxy `boxes` as the [x, y, w, h] of CLEAR MOT. */
function xywh(boxes: Float32Array, k: number): number[] {
  const [x1, y1, x2, y2] = boxes.subarray(4 * k, 4 * k + 4);
  return [x1, y1, x2 - x1, y2 - y1];
}

/**
 * Continuous xyxy (a box over pixel columns 3..5 is [3, 6)) to the inclusive corners VID's metric uses; a box
 * narrower than a pixel becomes one of zero inclusive width (a young detector predicts some).
 */
export function inclusiveVidBox(box: ArrayLike<number>): number[] {
  return [box[0], box[1], Math.max(box[0], box[2] - 1), Math.max(box[1], box[3] - 1)];
}

/**
 * Runs the design over every validation video, frame by frame in order, and scores it with ImageNet VID's mAP and
 * its slow / medium / fast breakdown; times the design's inference and each of its components.
 */
export async function evaluateDesign(
  design: VideoDesign,
  kind: VideoDesignKind,
  val: VidDataset,
  given: Record<string, number>,
  numClasses: number,
  speeds?: SpeedBins,
): Promise<EvalReport> {
  const inference = inferenceSettings(kind, given);
  design.model.eval();
  const { timer, components } = componentTimer();
  const frames: VidFrame[] = [];
  const detections: VidDetection[] = [];
  let milliseconds = 0;
  let keyFrames = 0;
  let updated: number | undefined;
  const videoSpeeds = new Map<VideoSpeedRow['label'], VideoSpeedRow>();
  const tracked: MotFrame[] = [];
  const cpuStart = process.cpuUsage();
  const progress = createProgress({ total: val.videos.length, label: `eval ${kind.label}` });
  for (const [v, video] of val.videos.entries()) {
    const loaded = await loadVideoFrames(val, v);
    const start = performance.now();
    const result = design.detectVideo(loaded.frames, loaded.imageSize, inference, timer);
    milliseconds += performance.now() - start;
    tf.dispose(loaded.frames);
    keyFrames += result.keyFrames.filter(Boolean).length;
    const videoUpdated = result.updated?.reduce((a, b) => a + b, 0);
    if (videoUpdated !== undefined) updated = (updated ?? 0) + videoUpdated;
    const tracks = speeds?.get(video.name);
    if (tracks) {
      const label = SPEED_ORDER[Math.max(...[...tracks.values()].map((bin) => SPEED_ORDER.indexOf(bin)))];
      const row = videoSpeeds.get(label) ?? { label, videos: 0, frames: 0, keyFrameFraction: 0 };
      // Sums for now: divided by the frames below.
      row.videos++;
      row.frames += result.keyFrames.length;
      row.keyFrameFraction += result.keyFrames.filter(Boolean).length;
      if (videoUpdated !== undefined) row.updatedFraction = (row.updatedFraction ?? 0) + videoUpdated;
      videoSpeeds.set(label, row);
    }
    video.frames.forEach((record, position) => {
      const r = val.records[record];
      frames.push({
        frameId: r.id,
        videoId: video.name,
        frameIndex: position,
        objects: Array.from(r.labels, (label, k) => ({
          trackId: r.trackIds[k],
          label,
          bbox: inclusiveVidBox(r.boxes.subarray(4 * k, 4 * k + 4)),
        })),
      });
      const d = result.detections[position];
      const trackIds = result.trackIds?.[position];
      if (trackIds)
        tracked.push({
          groundTruth: Array.from(r.trackIds!, (id, k) => ({ id: `${video.name}/${id}`, bbox: xywh(r.boxes, k) })),
          hypotheses: Array.from(trackIds, (id, k) => ({ id: `${video.name}/${id}`, bbox: xywh(d.boxes, k) })),
        });
      d.scores.forEach((score, k) =>
        detections.push({
          frameId: r.id,
          label: d.labels[k],
          score,
          bbox: inclusiveVidBox(d.boxes.subarray(4 * k, 4 * k + 4)),
        }),
      );
    });
    progress.update(v + 1, { frames: frames.length });
  }
  progress.done();
  const cpu = process.cpuUsage(cpuStart);
  const scored = evaluateVid(frames, detections, { numClasses });
  const ranges = (result: ReturnType<typeof evaluateVid>) =>
    result.ranges.map((r) => ({ label: r.label, mAP: r.mAP, positives: r.positives }));
  // The generator's bins passed as motion IoUs inside VID's slow [0.9, 1], medium [0.7, 0.9] and fast [0, 0.7].
  const speedIou = { slow: 1, medium: 0.8, fast: 0 };
  const bySpeed =
    speeds &&
    evaluateVid(
      frames.map((frame) => ({
        ...frame,
        objects: frame.objects.map((o) => ({
          ...o,
          motionIou: speedIou[speeds.get(String(frame.videoId))!.get(Number(o.trackId))!],
        })),
      })),
      detections,
      { numClasses },
    );
  return {
    design: kind.name,
    inference,
    ranges: ranges(scored),
    ...(bySpeed ? { speedRanges: ranges(bySpeed) } : {}),
    videos: val.videos.length,
    frames: frames.length,
    fps: frames.length / (milliseconds / 1000),
    msPerFrame: milliseconds / frames.length,
    components: Object.fromEntries(Object.entries(components).map(([name, ms]) => [name, ms / frames.length])),
    keyFrameFraction: keyFrames / frames.length,
    ...(updated === undefined ? {} : { updatedFraction: updated / frames.length }),
    ...(speeds
      ? {
          videoSpeeds: SPEED_ORDER.filter((label) => videoSpeeds.has(label)).map((label) => {
            const row = videoSpeeds.get(label)!;
            return {
              ...row,
              keyFrameFraction: row.keyFrameFraction / row.frames,
              ...(row.updatedFraction === undefined ? {} : { updatedFraction: row.updatedFraction / row.frames }),
            };
          }),
        }
      : {}),
    ...(tracked.length > 0 ? { tracking: trackingScores(tracked) } : {}),
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    loadAverage: loadavg()[0],
    backend: tf.getBackend(),
    threads: tf.getBackend() === 'wasm' ? wasmThreads() : null,
  };
}

function trackingScores(frames: MotFrame[]): EvalReport['tracking'] {
  const mot = clearMot(frames);
  const { jitter, pairs } = trackJitter(frames);
  return {
    mota: mot.mota,
    idf1: identityF1(frames).idf1,
    idSwitches: mot.idSwitches,
    falsePositives: mot.falsePositives,
    falseNegatives: mot.falseNegatives,
    jitter,
    jitterPairs: pairs,
  };
}

/** The report as a few lines for the console. */
export function formatReport(report: EvalReport): string {
  const ranges = report.ranges.map((r) => `${r.label} ${r.mAP.toFixed(4)} (${r.positives} gt)`).join(', ');
  const settings = Object.entries(report.inference)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const parts = Object.entries(report.components)
    .map(([k, v]) => `${k} ${v.toFixed(1)}`)
    .join(', ');
  const speeds = report.speedRanges?.map((r) => `${r.label} ${r.mAP.toFixed(4)} (${r.positives} gt)`).join(', ');
  const keys = report.videoSpeeds
    ?.map(
      (r) =>
        `${r.label} ${(100 * r.keyFrameFraction).toFixed(0)}%${r.updatedFraction === undefined ? '' : ` (recomputed ${(100 * r.updatedFraction).toFixed(0)}%)`} of ${r.frames} frames in ${r.videos} videos`,
    )
    .join(', ');
  const t = report.tracking;
  return [
    `${report.design}${settings ? ` (${settings})` : ''}: VID mAP ${ranges}`,
    ...(speeds ? [`  by generator speed: ${speeds}`] : []),
    ...(keys ? [`  key frames by the speed of each video's fastest track: ${keys}`] : []),
    ...(t
      ? [
          `  tracking: MOTA ${t.mota.toFixed(3)}, IDF1 ${t.idf1.toFixed(3)}, ID switches ${t.idSwitches}, FP ${t.falsePositives}, FN ${t.falseNegatives}, jitter ${t.jitter.toFixed(4)} (${t.jitterPairs} pairs)`,
        ]
      : []),
    `  ${report.frames} frames of ${report.videos} videos: ${report.fps.toFixed(2)} fps, ${report.msPerFrame.toFixed(1)} ms/frame (${parts}), key frames ${(100 * report.keyFrameFraction).toFixed(0)}%${report.updatedFraction === undefined ? '' : `, recomputed ${(100 * report.updatedFraction).toFixed(0)}%`}, ${report.backend}${report.threads === null ? '' : ` ${report.threads} thread(s)`}, load ${report.loadAverage.toFixed(1)}`,
  ].join('\n');
}
