import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { evaluateVid, vidBoxIou, vidMotionIou, vocAp, type VidDetection, type VidFrame } from '../src';

describe('VID building blocks', () => {
  it('IoU uses inclusive pixel boxes (+1 widths)', () => {
    expect(vidBoxIou([0, 0, 9, 9], [0, 0, 9, 4])).toBe(0.5);
    expect(vidBoxIou([0, 0, 9, 9], [10, 0, 19, 9])).toBe(0);
    expect(vidBoxIou([0, 0, 9, 9], [9, 0, 18, 9])).toBeCloseTo(10 / 190, 15);
  });

  it('vocAp integrates the precision envelope', () => {
    expect(vocAp([0.5, 0.5, 1], [1, 0.5, 2 / 3])).toBeCloseTo(0.5 + 0.5 * (2 / 3), 15);
    expect(vocAp([], [])).toBe(0);
  });

  it('the IoU threshold of small boxes is wh / ((w + 10)(h + 10))', () => {
    const frames: VidFrame[] = [
      {
        frameId: 'f0',
        videoId: 'v',
        frameIndex: 0,
        objects: [
          { trackId: 1, label: 0, bbox: [0, 0, 9, 9] },
          { trackId: 2, label: 1, bbox: [100, 100, 199, 199] },
        ],
      },
    ];
    // IoU 0.4 against each: above the small box's 0.25 threshold, below the large box's 0.5.
    const dets: VidDetection[] = [
      { frameId: 'f0', label: 0, score: 0.9, bbox: [0, 0, 9, 3] },
      { frameId: 'f0', label: 1, score: 0.9, bbox: [100, 100, 199, 139] },
    ];
    const all = evaluateVid(frames, dets, { numClasses: 2 }).ranges[0];
    expect(all.label).toBe('all');
    expect(all.ap).toEqual([1, 0]);
  });
});

// Video 'A', frames 0..4: a static object (slow) and one moving 30 px a frame (fast), then an empty frame 5.
function scene(): { frames: VidFrame[]; dets: VidDetection[] } {
  const frames: VidFrame[] = [];
  const dets: VidDetection[] = [];
  for (let t = 0; t < 5; t++) {
    const still = [0, 0, 49, 49];
    const moving = [100 + 30 * t, 0, 149 + 30 * t, 49];
    frames.push({
      frameId: t,
      videoId: 'A',
      frameIndex: t,
      objects: [
        { trackId: 's', label: 0, bbox: still },
        { trackId: 'f', label: 0, bbox: moving },
      ],
    });
    dets.push({ frameId: t, label: 0, score: 0.9, bbox: still }, { frameId: t, label: 0, score: 0.8, bbox: moving });
  }
  frames.push({ frameId: 5, videoId: 'A', frameIndex: 5, objects: [] });
  // Overlaps only the fast object, and too little to match it (IoU 1/9).
  dets.push({ frameId: 0, label: 0, score: 0.95, bbox: [140, 0, 189, 49] });
  // In a frame without ground truth.
  dets.push({ frameId: 5, label: 0, score: 0.92, bbox: [0, 0, 20, 20] });
  return { frames, dets };
}

describe('evaluateVid: motion speed breakdown (FGFA rules)', () => {
  it('motion IoU is the mean IoU with the same track over +-10 frames', () => {
    const { frames } = scene();
    const m = vidMotionIou(frames);
    expect(m.slice(0, 5).map((f) => f[0])).toEqual([1, 1, 1, 1, 1]);
    // 50-px boxes 30 px apart overlap by IoU 1/4, farther ones not at all.
    expect(m[0][1]).toBeCloseTo(0.25 / 4, 15);
    expect(m[2][1]).toBeCloseTo(0.5 / 4, 15);
    expect(m[5]).toEqual([]);
    // Outside the window the other frames do not count; an object alone in its window gets 0.
    const far: VidFrame[] = [
      { frameId: 'a', videoId: 1, frameIndex: 0, objects: [{ trackId: 7, label: 0, bbox: [0, 0, 9, 9] }] },
      { frameId: 'b', videoId: 1, frameIndex: 11, objects: [{ trackId: 7, label: 0, bbox: [0, 0, 9, 9] }] },
      { frameId: 'c', videoId: 2, frameIndex: 1, objects: [{ trackId: 7, label: 0, bbox: [0, 0, 9, 9] }] },
    ];
    expect(vidMotionIou(far)).toEqual([[0], [0], [0]]);
    expect(vidMotionIou(far, 11)).toEqual([[1], [1], [0]]);
  });

  it('per range: other speeds leave the positives, overlaps with them are not false positives, empty frames weigh by share', () => {
    const { frames, dets } = scene();
    const r = evaluateVid(frames, dets, { numClasses: 2 });
    const byLabel = Object.fromEntries(r.ranges.map((x) => [x.label, x]));
    // all: two false positives (0.95, 0.92) above ten true positives.
    expect(byLabel.all.ap[0]).toBeCloseTo(10 / 12, 12);
    expect(byLabel.all.positives).toBe(10);
    // slow: the 0.95 detection overlaps only the (ignored) fast object: not a false positive; the one in the
    // empty frame counts 5/10 (the share of ground truth that is slow); fast detections are ignored.
    expect(byLabel.slow.positives).toBe(5);
    expect(byLabel.slow.ap[0]).toBeCloseTo(5 / 5.5, 12);
    // fast: the 0.95 detection is a full false positive, the empty-frame one 5/10; slow detections ignored.
    expect(byLabel.fast.ap[0]).toBeCloseTo(5 / 6.5, 12);
    // medium: no positives.
    expect(byLabel.medium.ap).toEqual([-1, -1]);
    expect(byLabel.medium.mAP).toBe(-1);
    // Class 1 has no ground truth anywhere: -1 and out of the mean.
    expect(byLabel.all.ap[1]).toBe(-1);
    expect(byLabel.all.mAP).toBe(byLabel.all.ap[0]);
  });

  it('a detection overlapping ignored and kept ground truth equally counts the ignored share', () => {
    const { frames, dets } = scene();
    // Move the 0.95 detection off both objects: both overlaps are 0, so in 'slow' it weighs 1/2.
    dets[10] = { ...dets[10], bbox: [300, 300, 320, 320] };
    const slow = evaluateVid(frames, dets, { numClasses: 1 }).ranges.find((x) => x.label === 'slow')!;
    // Ranked: fp 0.5, fp 0.5, then 5 true positives: final precision 5 / 6.
    expect(slow.ap[0]).toBeCloseTo(5 / 6, 12);
  });

  it('given motion IoUs override the computed ones; permuting detections changes nothing', () => {
    const { frames, dets } = scene();
    const overridden = frames.map((f) => ({ ...f, objects: f.objects.map((o) => ({ ...o, motionIou: 0.8 })) }));
    const r = evaluateVid(overridden, dets, { numClasses: 1 });
    expect(r.ranges.find((x) => x.label === 'medium')!.positives).toBe(10);
    expect(r.ranges.find((x) => x.label === 'slow')!.ap).toEqual([-1]);
    const a = evaluateVid(frames, dets, { numClasses: 1 });
    const b = evaluateVid(frames, [...dets].reverse(), { numClasses: 1 });
    expect(b.ranges.map((x) => x.ap)).toEqual(a.ranges.map((x) => x.ap));
  });

  it('perfect detections give AP 1 in every range with positives', () => {
    const { frames } = scene();
    const dets = frames.flatMap((f) =>
      f.objects.map((o, i) => ({
        frameId: f.frameId,
        label: o.label,
        score: 0.5 + 0.01 * i + 0.001 * Number(f.frameId),
        bbox: o.bbox,
      })),
    );
    for (const range of evaluateVid(frames, dets, { numClasses: 1 }).ranges) expect([1, -1]).toContain(range.mAP);
  });

  it('malformed input names the record', () => {
    const { frames, dets } = scene();
    expect(() => evaluateVid(frames, [...dets, { frameId: 99, label: 0, score: 1, bbox: [0, 0, 1, 1] }])).toThrow(
      /detections\[12\] \(frameId 99\)\.frameId' expected the frameId of a frame/,
    );
    expect(() => evaluateVid(frames, [{ ...dets[0], score: NaN }])).toThrow(
      /detections\[0\] \(frameId 0\)\.score' expected a finite number, got NaN/,
    );
    expect(() => evaluateVid(frames, [{ ...dets[0], label: 3 }], { numClasses: 2 })).toThrow(
      /detections\[0\] \(frameId 0\)\.label' expected an integer >= 0 and <= 1, got 3/,
    );
    expect(() => evaluateVid(frames, [{ ...dets[0], bbox: [5, 0, 1, 1] }])).toThrow(
      /detections\[0\] \(frameId 0\)\.bbox' expected \[x1, y1, x2, y2\] with x2 >= x1/,
    );
    const bad = frames.map((f, i) => (i === 2 ? { ...f, objects: [{ trackId: 'q', label: 0, bbox: [0, 0, 1] }] } : f));
    expect(() => evaluateVid(bad, [])).toThrow(/frames\[2\] \(frameId 2\)\.objects\[0\] \(trackId q\)\.bbox'/);
    expect(() => evaluateVid([...frames, frames[0]], [])).toThrow(
      /frames\[6\] \(frameId 0\)\.frameId' expected a frameId not used before/,
    );
    expect(() => evaluateVid([...frames, { ...frames[0], frameId: 'x' }], [])).toThrow(
      /frames\[6\] \(frameId x\)\.frameIndex' expected a frame index not used before in video A, got 0/,
    );
    const twice = frames.map((f, i) => (i === 1 ? { ...f, objects: [f.objects[0], f.objects[0]] } : f));
    expect(() => evaluateVid(twice, [])).toThrow(
      /frames\[1\] \(frameId 1\)\.objects\[1\] \(trackId s\)\.trackId' expected a trackId used once per frame/,
    );
  });
});

interface FgfaFixture {
  numClasses: number;
  motionRanges: [number, number][];
  frames: VidFrame[];
  detections: VidDetection[];
  expected: { motionIou: number[][]; ap: number[][]; mAP: number[] };
}

describe('evaluateVid agrees with FGFA vid_eval_motion (fixture from scripts/make_vid_fixtures.py)', () => {
  const fixture: FgfaFixture = JSON.parse(readFileSync(new URL('./fixtures/vid_fgfa.json', import.meta.url), 'utf8'));
  it('motion IoU from the tracks', () => {
    const ours = vidMotionIou(fixture.frames);
    ours.forEach((frame, f) => frame.forEach((m, o) => expect(m).toBeCloseTo(fixture.expected.motionIou[f][o], 14)));
  });

  it('AP per motion range and class, and mAP', () => {
    const motionRanges = fixture.motionRanges.map((range, i) => ({
      label: ['all', 'fast', 'medium', 'slow'][i],
      range,
    }));
    const r = evaluateVid(fixture.frames, fixture.detections, { numClasses: fixture.numClasses, motionRanges });
    let worst = 0;
    r.ranges.forEach((range, i) => {
      range.ap.forEach((ap, c) => {
        const expected = fixture.expected.ap[i][c];
        if (expected === -1) expect(ap).toBe(-1);
        else worst = Math.max(worst, Math.abs(ap - expected));
      });
      expect(range.mAP).toBeCloseTo(fixture.expected.mAP[i], 12);
    });
    expect(worst).toBeLessThanOrEqual(1e-12);
  });
});
