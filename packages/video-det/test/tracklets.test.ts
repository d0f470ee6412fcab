import { describe, expect, it } from 'vitest';
import { associationWeights, conditionedScore, DEFAULT_TRACKER, Tracker, type FrameDetections } from '../src/index';

/** One frame's detections from rows (x1, y1, width, score, label, embedding): 20 px tall boxes. */
function frame(rows: Array<[number, number, number, number, number, number[]]>): FrameDetections {
  return {
    boxes: Float32Array.from(rows.flatMap(([x, y, w]) => [x, y, x + w, y + 20])),
    scores: Float32Array.from(rows.map((r) => r[3])),
    labels: Int32Array.from(rows.map((r) => r[4])),
    embeddings: Float32Array.from(rows.flatMap((r) => r[5])),
  };
}

const A = [1, 0.1, 0];
const B = [0.1, 1, 0];
const C = [0, 0.1, 1];

describe('association weights and the conditioned score', () => {
  it('a softmax over [null, tracklets] of gamma * cosine; tracklets of another class get 0', () => {
    const w = associationWeights([0.9, NaN, 0.1], DEFAULT_TRACKER);
    expect(w.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(w[2]).toBe(0);
    // gamma 10: null logit 5, tracklet logits 9 and 1.
    const z = Math.exp(5) + Math.exp(9) + Math.exp(1);
    expect(w[0]).toBeCloseTo(Math.exp(5) / z, 12);
    expect(w[1]).toBeCloseTo(Math.exp(9) / z, 12);
  });

  it("raises a weak detection of a strong tracklet, lowers one of a weak tracklet, keeps a new object's score", () => {
    const tracklet = (score: number) => ({
      id: 1,
      label: 0,
      embedding: new Float32Array(3),
      score,
      box: new Float32Array(4),
      age: 0,
      hits: 3,
    });
    const joins = associationWeights([0.95], DEFAULT_TRACKER);
    expect(conditionedScore(0.2, joins, [tracklet(0.9)])).toBeGreaterThan(0.8);
    expect(conditionedScore(0.8, joins, [tracklet(0.1)])).toBeLessThan(0.2);
    const alone = associationWeights([], DEFAULT_TRACKER);
    expect(conditionedScore(0.6, alone, [])).toBeCloseTo(0.6, 12);
  });
});

describe('Tracker on hand-made cases', () => {
  it('crossing tracks of one class keep their ids (association by embedding, one-to-one)', () => {
    const tracker = new Tracker();
    const ids: number[][] = [];
    for (let t = 0; t < 7; t++) {
      // A moves right, B moves left; they overlap around t = 3 and swap sides.
      const out = tracker.step(
        frame([
          [10 + 10 * t, 20, 20, 0.9, 0, A],
          [70 - 10 * t, 22, 20, 0.9, 0, B],
        ]),
      );
      ids.push(out.map((b) => b.trackId));
    }
    expect(ids.every(([a, b]) => a === 1 && b === 2)).toBe(true);
  });

  it('an occluded object rejoins its tracklet within maxAge; after maxAge it is a new track (death, birth)', () => {
    const tracker = new Tracker({ maxAge: 3 });
    const seen = (t: number, visible: boolean) =>
      tracker.step(frame(visible ? [[10 + 2 * t, 20, 20, 0.9, 0, A]] : [])).map((b) => b.trackId);
    expect([0, 1, 2].map((t) => seen(t, true))).toEqual([[1], [1], [1]]);
    expect([3, 4].map((t) => seen(t, false))).toEqual([[], []]);
    expect(tracker.tracklets.map((t) => [t.id, t.age])).toEqual([[1, 2]]);
    expect(seen(5, true)).toEqual([1]); // 2 frames missing < maxAge 3: same id
    expect([6, 7, 8].map((t) => seen(t, false))).toEqual([[], [], []]);
    expect(tracker.tracklets).toEqual([]); // 3 frames missing: dead
    expect(seen(9, true)).toEqual([2]);
  });

  it('birth needs birthScore; a new object joins no tracklet; another class never joins', () => {
    const tracker = new Tracker();
    expect(
      tracker
        .step(
          frame([
            [10, 10, 20, 0.9, 0, A],
            [60, 10, 20, 0.4, 0, C],
          ]),
        )
        .map((b) => b.trackId),
    ).toEqual([1]);
    expect(tracker.tracklets.length).toBe(1);
    // C again (now 0.6): unlike A, so the null tracklet wins and it is born; A's embedding as class 1: a new track.
    const out = tracker.step(
      frame([
        [12, 10, 20, 0.9, 0, A],
        [60, 10, 20, 0.6, 0, C],
        [40, 40, 20, 0.9, 1, A],
      ]),
    );
    expect(out.map((b) => [b.trackId, b.label])).toEqual([
      [1, 0],
      [2, 0],
      [3, 1],
    ]);
  });

  it('conditioning keeps a weak detection of an established track that plain scores drop', () => {
    const run = (condition: boolean) => {
      const tracker = new Tracker({ condition });
      const scores = [0.9, 0.9, 0.9, 0.15, 0.9];
      return scores.map((s, t) => tracker.step(frame([[10 + 3 * t, 20, 20, s, 0, A]])).map((b) => b.trackId));
    };
    expect(run(true)).toEqual([[1], [1], [1], [1], [1]]);
    expect(run(false)).toEqual([[1], [1], [1], [], [1]]);
  });

  it('tracklet embeddings and scores are running averages (momentum)', () => {
    const tracker = new Tracker({ momentum: 0.5, condition: false });
    tracker.step(frame([[10, 10, 20, 0.8, 0, [1, 0, 0]]]));
    tracker.step(frame([[10, 10, 20, 0.6, 0, [1, 1, 0]]]));
    const [t] = tracker.tracklets;
    expect(t.score).toBeCloseTo(0.7, 6);
    const e = [0.5 + 0.5 / Math.SQRT2, 0.5 / Math.SQRT2, 0];
    const n = Math.hypot(...e);
    expect(Array.from(t.embedding)).toEqual(e.map((v) => expect.closeTo(v / n, 6)));
  });

  it('errors name the argument', () => {
    expect(() => new Tracker({ maxAge: 0 })).toThrow(/Tracker.*config.maxAge/);
    expect(() => new Tracker({ momentum: 2 })).toThrow(/Tracker.*config.momentum.*\[0, 1\]/);
    const tracker = new Tracker();
    const bad = { ...frame([[0, 0, 10, 0.9, 0, A]]), labels: new Int32Array(2) };
    expect(() => tracker.step(bad)).toThrow(/Tracker.step.*detections.labels/);
    tracker.step(frame([[0, 0, 10, 0.9, 0, A]]));
    expect(() => tracker.step(frame([[0, 0, 10, 0.9, 0, [1, 0]]]))).toThrow(/Tracker.step.*detections.embeddings/);
  });
});
