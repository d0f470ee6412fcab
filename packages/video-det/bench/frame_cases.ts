/**
 * One frame of inference for the mobile video design (arXiv 1804.05830) and its per-frame baselines, as cases a
 * timing loop calls: shared by bench/latency.ts (Node, core's interleavedBench) and apps/demo's video latency page
 * (Chromium), so both time the same work. Browser-safe: tfjs-core and the packages' sources only.
 *
 * The weights are random (seeded): latency does not depend on them, except that the task network's
 * post-processing keeps however many boxes pass its score threshold, a few of at most `detectionsPerImage`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@deformjs/core';
import {
  FASTER_RCNN_MOBILE_TINY,
  FASTER_RCNN_TINY,
  FasterRCNN,
  type Detections,
  type FasterRcnnConfig,
  type FasterRcnnTarget,
} from '@deformjs/dcnv2-rcnn';
import { DFF, MobileVOD, type KeyState } from '../src/index';

/** A case: one frame's work, returning when its results are read back. */
export type FrameCase = () => void;

export interface FrameCases {
  cases: Record<string, FrameCase>;
  /** Frees the models and inputs. */
  dispose(): void;
}

/** The shapes videos' five classes and the background, as apps/video-det trains them. */
const NUM_CLASSES = 6;

/** Reads every tensor back (so the backend has done the work, webgl included), then frees them. */
function settle(out: readonly tf.Tensor[]): void {
  for (const t of out) t.dataSync();
  tf.dispose(out as tf.Tensor[]);
}

/** Two random frames [1, size, size, 3] (the previous key frame and the current one); size a multiple of 64. */
function framePair(size: number, seed: number): [tf.Tensor4D, tf.Tensor4D] {
  const rng = new Rng(seed);
  return [rng.normalTensor([1, size, size, 3]) as tf.Tensor4D, rng.normalTensor([1, size, size, 3]) as tf.Tensor4D];
}

function detector(base: FasterRcnnConfig, width: number, seed: number): FasterRCNN {
  // Instance norm, as the app's mAP-vs-fps table: per-image statistics, computed at inference too.
  return new FasterRCNN({
    ...base,
    backbone: { ...base.backbone, width, norm: 'instance' },
    numClasses: NUM_CLASSES,
    seed,
  });
}

/**
 * The mobile design at MobileNet stem width `width` and Light Flow conv1 width `flowWidth` (the app ties them:
 * `--width w --flow-width w`), FPN 8 as the app's mobile preset, on `size` x `size` frames. Cases:
 * - `per-frame`: MobileNet features + task network (the per-frame MobileNet detector),
 * - `key frame`: features, Light Flow to the previous key frame, warp of its state, GRU, task network,
 * - `non-key frame`: Light Flow to the key frame, warp of its state, task network,
 * - `features`, `Light Flow + warp`, `GRU`, `task`: the components.
 * A non-key frame is cheaper than a per-frame detection exactly when `Light Flow + warp` costs less than `features`.
 */
export function mobileFrameCases(width: number, flowWidth: number, size: number, seed = 0): FrameCases {
  const model = new MobileVOD(detector(FASTER_RCNN_MOBILE_TINY, width, seed), {
    lightFlow: { width: flowWidth, seed: seed + 1, norm: 'instance' },
    seed: seed + 2,
  });
  model.eval();
  const net = model.detector as FasterRCNN;
  const [previous, frame] = framePair(size, seed + 3);
  const imageSize: [number, number] = [size, size];
  // The previous key frame's aggregated state, as a video would hold it when `frame` arrives.
  const state: KeyState = model.keyFrame(previous, null);
  const own = net.features(frame).features;
  const warped = model.propagate(state, frame);
  const detect = (features: tf.Tensor[]): Detections[] =>
    net.detectFromFeatures(features, state.paddedSize, [imageSize]);
  const cases: Record<string, FrameCase> = {
    'per-frame': () => {
      const { features } = net.features(frame);
      detect(features);
      tf.dispose(features);
    },
    'key frame': () => {
      const next = model.keyFrame(frame, state);
      detect(next.features);
      tf.dispose(next.features);
    },
    'non-key frame': () => {
      const propagated = model.propagate(state, frame);
      detect(propagated);
      tf.dispose(propagated);
    },
    features: () => settle(net.features(frame).features),
    'Light Flow + warp': () => settle(model.propagate(state, frame)),
    GRU: () => settle(own.map((f, level) => model.gru.forward(f, warped[level]))),
    task: () => void detect(own),
  };
  return {
    cases,
    dispose: () => {
      tf.dispose([previous, frame, ...state.features, ...own, ...warped]);
      model.dispose();
    },
  };
}

/**
 * Part 1's designs at the app's toy configuration: the per-frame ResNet-18 detector of width `width` (FPN 8), and
 * a DFF non-key frame (FlowNet-S of conv1 width `flowWidth`, warp and scale field, task network). DFF's key frame
 * is the per-frame detection.
 */
export function resnetFrameCases(width: number, flowWidth: number, size: number, seed = 0): FrameCases {
  const model = new DFF<FasterRcnnTarget, Detections>(detector(FASTER_RCNN_TINY, width, seed), {
    flownet: { width: flowWidth, seed: seed + 1 },
    seed: seed + 2,
  });
  model.eval();
  const net = model.detector as FasterRCNN;
  const [key, frame] = framePair(size, seed + 3);
  const imageSize: [number, number] = [size, size];
  const { features: keyFeatures, paddedSize } = net.features(key);
  const cases: Record<string, FrameCase> = {
    'per-frame': () => {
      const { features } = net.features(frame);
      net.detectFromFeatures(features, paddedSize, [imageSize]);
      tf.dispose(features);
    },
    'DFF non-key frame': () => {
      const propagated = model.propagate(keyFeatures, paddedSize, frame, key);
      net.detectFromFeatures(propagated, paddedSize, [imageSize]);
      tf.dispose(propagated);
    },
  };
  return {
    cases,
    dispose: () => {
      tf.dispose([key, frame, ...keyFeatures]);
      model.dispose();
    },
  };
}

/**
 * Checks that each case leaves the tensor count flat over `runs` calls (a leak would slow later rounds and
 * exhaust memory in the browser); throws naming the case and the counts.
 */
export function checkFlat(cases: Record<string, FrameCase>, runs = 3): void {
  for (const [name, run] of Object.entries(cases)) {
    const counts: number[] = [];
    for (let i = 0; i < runs; i++) {
      run();
      counts.push(tf.memory().numTensors);
    }
    if (counts.some((c) => c !== counts[0]))
      throw new Error(`${name}: tensor count over ${runs} runs is not flat: ${counts.join(', ')}`);
  }
}
