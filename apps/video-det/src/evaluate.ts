import { loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { createProgress } from '@deformjs/core/node';
import type { VidDataset } from '@deformjs/datasets';
import type { Detections } from '@deformjs/dcnv2-rcnn';
import { evaluateVid, type VidDetection, type VidFrame } from '@deformjs/metrics';
import type { Timer } from '@deformjs/video-det';
import { loadVideoFrames } from './data';
import { inferenceSettings, type VideoDesign, type VideoDesignKind } from './design';

/** The validation numbers of one design at one inference setting. */
export interface EvalReport {
  design: string;
  inference: Record<string, number>;
  /** VID mAP over all objects and by motion speed (FGFA's motion-IoU bins), with the ground truth in each. */
  ranges: { label: string; mAP: number; positives: number }[];
  videos: number;
  frames: number;
  /** Frames per second and milliseconds per frame of the design's inference (decoding left out). */
  fps: number;
  msPerFrame: number;
  /** Milliseconds per frame by component (feature network, flow, warp, aggregation, task network). */
  components: Record<string, number>;
  /** The fraction of frames that ran the whole feature network. */
  keyFrameFraction: number;
  /** Process CPU seconds of inference and the 1-minute load average at the end: wall times need both. */
  cpuSeconds: number;
  loadAverage: number;
}

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

/** Continuous xyxy (a box over pixel columns 3..5 is [3, 6)) to the inclusive corners VID's metric uses. */
function inclusive(box: ArrayLike<number>): number[] {
  return [box[0], box[1], box[2] - 1, box[3] - 1];
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
  onVideo?: (v: number, samples: readonly { id: number | string }[], result: { detections: Detections[] }) => void,
): Promise<EvalReport> {
  const inference = inferenceSettings(kind, given);
  design.model.eval();
  const { timer, components } = componentTimer();
  const frames: VidFrame[] = [];
  const detections: VidDetection[] = [];
  let milliseconds = 0;
  let keyFrames = 0;
  const cpuStart = process.cpuUsage();
  const progress = createProgress({ total: val.videos.length, label: `eval ${kind.label}` });
  for (const [v, video] of val.videos.entries()) {
    const loaded = await loadVideoFrames(val, v);
    const start = performance.now();
    const result = design.detectVideo(loaded.frames, loaded.imageSize, inference, timer);
    milliseconds += performance.now() - start;
    tf.dispose(loaded.frames);
    keyFrames += result.keyFrames.filter(Boolean).length;
    video.frames.forEach((record, position) => {
      const r = val.records[record];
      frames.push({
        frameId: r.id,
        videoId: video.name,
        frameIndex: position,
        objects: Array.from(r.labels, (label, k) => ({
          trackId: r.trackIds[k],
          label,
          bbox: inclusive(r.boxes.subarray(4 * k, 4 * k + 4)),
        })),
      });
      const d = result.detections[position];
      d.scores.forEach((score, k) =>
        detections.push({
          frameId: r.id,
          label: d.labels[k],
          score,
          bbox: inclusive(d.boxes.subarray(4 * k, 4 * k + 4)),
        }),
      );
    });
    onVideo?.(v, loaded.samples, result);
    progress.update(v + 1, { frames: frames.length });
  }
  progress.done();
  const cpu = process.cpuUsage(cpuStart);
  const scored = evaluateVid(frames, detections, { numClasses });
  return {
    design: kind.name,
    inference,
    ranges: scored.ranges.map((r) => ({ label: r.label, mAP: r.mAP, positives: r.positives })),
    videos: val.videos.length,
    frames: frames.length,
    fps: frames.length / (milliseconds / 1000),
    msPerFrame: milliseconds / frames.length,
    components: Object.fromEntries(Object.entries(components).map(([name, ms]) => [name, ms / frames.length])),
    keyFrameFraction: keyFrames / frames.length,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    loadAverage: loadavg()[0],
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
  return [
    `${report.design}${settings ? ` (${settings})` : ''}: VID mAP ${ranges}`,
    `  ${report.frames} frames of ${report.videos} videos: ${report.fps.toFixed(2)} fps, ${report.msPerFrame.toFixed(1)} ms/frame (${parts}), key frames ${(100 * report.keyFrameFraction).toFixed(0)}%, load ${report.loadAverage.toFixed(1)}`,
  ].join('\n');
}
