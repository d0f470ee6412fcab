import { describe, expect, it } from 'vitest';
import { evaluateVid } from '@deformjs/metrics';
import { inclusiveVidBox } from '../src/evaluate';

describe('inclusiveVidBox', () => {
  it('turns continuous xyxy into the inclusive pixels of VID, a sub-pixel box into a zero-width one', () => {
    expect(inclusiveVidBox([3, 4, 6, 9])).toEqual([3, 4, 5, 8]);
    // A young detector predicts boxes narrower than a pixel: before, these became x2 < x1 and stopped evaluateVid.
    const thin = inclusiveVidBox([3, 4, 3.5, 4.25]);
    expect(thin).toEqual([3, 4, 3, 4]);
    const frames = [{ frameId: 0, videoId: 0, frameIndex: 0, objects: [{ trackId: 0, label: 0, bbox: [3, 4, 5, 8] }] }];
    const detections = [{ frameId: 0, label: 0, score: 0.9, bbox: thin }];
    expect(() => evaluateVid(frames, detections, { numClasses: 1 })).not.toThrow();
    expect(() => evaluateVid(frames, [{ ...detections[0], bbox: [3, 4, 2.5, 3.25] }], { numClasses: 1 })).toThrow(
      /bbox/,
    );
  });
});
