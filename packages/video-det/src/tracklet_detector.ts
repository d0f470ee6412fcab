import * as tf from '@tensorflow/tfjs-core';
import { Module } from '@deformjs/core';
import { checkFrames, type FrameDetector } from './detector';
import { associationLoss, EmbeddingHead, type EmbeddingHeadConfig } from './embedding';
import { untimed, type Timer } from './timing';
import { Tracker, type TrackerConfig } from './tracklets';

/** A frame's detections as `Tracker` and the metrics take them: xyxy boxes in pixels, scores, labels. */
export interface BoxDetections {
  boxes: Float32Array;
  scores: Float32Array;
  labels: Int32Array;
}

/** One frame's annotated objects for the association loss: xyxy boxes in pixels and their track ids. */
export interface TrackedObjects {
  boxes: Float32Array;
  trackIds: Int32Array;
}

/** A video's tracked detections: per frame, the boxes reported with their (conditioned) scores and track ids. */
export interface TrackedVideo {
  detections: BoxDetections[];
  trackIds: Int32Array[];
}

/** [K, 5] RoI rows (image 0, x1, y1, x2, y2) of xyxy boxes. */
function roiRows(boxes: Float32Array): tf.Tensor2D {
  const K = boxes.length / 4;
  const rows = new Float32Array(5 * K);
  for (let k = 0; k < K; k++) rows.set(boxes.subarray(4 * k, 4 * k + 4), 5 * k + 1);
  return tf.tensor2d(rows, [K, 5]);
}

/**
 * Tracklet-conditioned detection (Zhang et al., arXiv 1811.11167) around any `FrameDetector`: the detector runs on
 * every frame, the embedding head embeds its detections from the same feature maps, and `Tracker` associates them
 * with the live tracklets and re-weights their scores by the tracklets they would join. Training adds the
 * association loss to the detector's: the reference frame's annotated objects are the tracklets, the current
 * frame's the detections (positive: the same track id; the null tracklet for an object the reference lacks).
 */
export class TrackletConditionedDetector<Target, Detection extends BoxDetections> extends Module {
  readonly embedding: EmbeddingHead;

  constructor(
    readonly detector: FrameDetector<Target, Detection>,
    embedding: EmbeddingHeadConfig,
  ) {
    super();
    this.addModule('detector', detector);
    this.embedding = this.addModule('embedding', new EmbeddingHead(detector.featureChannels, embedding));
  }

  /** Embeddings [K, dim] of xyxy `boxes` read from one frame's feature maps. */
  embed(features: readonly tf.Tensor[], paddedSize: [number, number], boxes: Float32Array): tf.Tensor2D {
    return tf.tidy(() => this.embedding.forward(features, paddedSize, roiRows(boxes)));
  }

  /**
   * Training losses (call inside tf.variableGrads): the detector's on `current`, and `association`, the
   * association loss of `current`'s objects against `reference`'s (`associationLoss`; zero without objects in
   * `current`). `objects` holds the two frames' boxes and track ids, reference first.
   */
  loss(
    reference: tf.Tensor,
    current: tf.Tensor,
    imageSizes: ReadonlyArray<readonly [number, number]>,
    targets: readonly Target[],
    objects: readonly [TrackedObjects, TrackedObjects],
    tracker: Pick<TrackerConfig, 'similarityScale' | 'nullSimilarity'>,
  ): Record<string, tf.Scalar> {
    const [before, now] = objects;
    const { features, paddedSize } = this.detector.features(current);
    const losses = this.detector.taskLoss(features, paddedSize, imageSizes, targets);
    let association: tf.Scalar = tf.scalar(0);
    if (now.trackIds.length > 0) {
      const referenceMaps = this.detector.features(reference);
      association = tf.tidy(() => {
        const tracklets = this.embed(referenceMaps.features, referenceMaps.paddedSize, before.boxes);
        const detections = this.embed(features, paddedSize, now.boxes);
        const positives = Int32Array.from(now.trackIds, (id) => before.trackIds.indexOf(id) + 1);
        return associationLoss(detections, tracklets, positives, tracker);
      });
      tf.dispose(referenceMaps.features);
    }
    tf.dispose(features);
    return { ...losses, association };
  }

  /**
   * Tracks a video (frames [1, H, W, 3] in order) with a fresh `Tracker`: per frame the detector's detections,
   * their embeddings and the tracker's step. Returns the boxes the tracker reports, with their conditioned scores
   * (or plain ones with `tracker.condition` false) and track ids. `timer` measures features, task, embed, track.
   */
  detectVideo(
    frames: readonly tf.Tensor[],
    imageSize: readonly [number, number],
    tracker: Partial<TrackerConfig>,
    timer: Timer = untimed,
  ): TrackedVideo {
    checkFrames('TrackletConditionedDetector.detectVideo', frames);
    const online = new Tracker(tracker);
    const video: TrackedVideo = { detections: [], trackIds: [] };
    for (const frame of frames) {
      const { features, paddedSize } = timer('features', () => this.detector.features(frame));
      const [found] = timer('task', () => this.detector.detectFromFeatures(features, paddedSize, [imageSize]));
      const embeddings = timer('embed', () => {
        if (found.scores.length === 0) return new Float32Array(0);
        const e = this.embed(features, paddedSize, found.boxes);
        const values = e.dataSync() as Float32Array;
        e.dispose();
        return values;
      });
      tf.dispose(features);
      const tracked = timer('track', () =>
        online.step({ boxes: found.boxes, scores: found.scores, labels: found.labels, embeddings }),
      );
      video.detections.push({
        boxes: Float32Array.from(tracked.flatMap((t) => Array.from(t.box))),
        scores: Float32Array.from(tracked, (t) => t.score),
        labels: Int32Array.from(tracked, (t) => t.label),
      });
      video.trackIds.push(Int32Array.from(tracked, (t) => t.trackId));
    }
    return video;
  }
}
