import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { clearMot, flowEndPointError, identityF1, trackJitter, type MotFrame } from '../src';

const box = (x: number, w = 10): number[] => [x, 0, w, 10];

/** Two objects, hypotheses that swap them, a false positive and a frame with nothing tracked. */
const SWAP_FRAMES: MotFrame[] = [
  {
    groundTruth: [
      { id: 'a', bbox: box(0) },
      { id: 'b', bbox: box(50) },
    ],
    hypotheses: [
      { id: 1, bbox: box(0) },
      { id: 2, bbox: box(50) },
    ],
  },
  // The hypotheses swap objects: two switches.
  {
    groundTruth: [
      { id: 'a', bbox: box(0) },
      { id: 'b', bbox: box(50) },
    ],
    hypotheses: [
      { id: 1, bbox: box(50) },
      { id: 2, bbox: box(0) },
    ],
  },
  // 'a' continues with 2; hypothesis 3 is a false positive.
  {
    groundTruth: [{ id: 'a', bbox: box(0) }],
    hypotheses: [
      { id: 2, bbox: box(1) },
      { id: 3, bbox: box(200) },
    ],
  },
  // Nothing tracked: two misses.
  {
    groundTruth: [
      { id: 'a', bbox: box(0) },
      { id: 'b', bbox: box(50) },
    ],
    hypotheses: [],
  },
];

describe('CLEAR MOT', () => {
  it('counts FP, FN and ID switches (hand-computed)', () => {
    const frames = SWAP_FRAMES;
    const r = clearMot(frames);
    expect([r.groundTruth, r.matches, r.falseNegatives, r.falsePositives, r.idSwitches]).toEqual([7, 5, 2, 1, 2]);
    expect(r.mota).toBeCloseTo(1 - 5 / 7, 15);
    expect(r.motp).toBeCloseTo((4 + 9 / 11) / 5, 15);
  });

  it('keeps a still-valid earlier match over a better new one (no switch)', () => {
    const frames: MotFrame[] = [
      { groundTruth: [{ id: 'a', bbox: box(0) }], hypotheses: [{ id: 1, bbox: box(0) }] },
      {
        groundTruth: [{ id: 'a', bbox: box(0) }],
        hypotheses: [
          { id: 1, bbox: box(2) },
          { id: 2, bbox: box(0) },
        ],
      },
    ];
    const r = clearMot(frames);
    expect([r.idSwitches, r.falsePositives, r.matches]).toEqual([0, 1, 2]);
  });

  it('a match resumed after a gap with another hypothesis is a switch', () => {
    const frames: MotFrame[] = [
      { groundTruth: [{ id: 'a', bbox: box(0) }], hypotheses: [{ id: 1, bbox: box(0) }] },
      { groundTruth: [{ id: 'a', bbox: box(0) }], hypotheses: [] },
      { groundTruth: [{ id: 'a', bbox: box(0) }], hypotheses: [{ id: 5, bbox: box(0) }] },
    ];
    expect(clearMot(frames).idSwitches).toBe(1);
  });

  it('the assignment maximises the number of matches before minimising distance', () => {
    // h1 fits a best (IoU .905) but also b (.6); h2 fits only a (.6). Greedy would leave b unmatched.
    const frames: MotFrame[] = [
      {
        groundTruth: [
          { id: 'a', bbox: box(0) },
          { id: 'b', bbox: box(3) },
        ],
        hypotheses: [
          { id: 1, bbox: box(0.5) },
          { id: 2, bbox: box(-2.5) },
        ],
      },
    ];
    const r = clearMot(frames);
    expect([r.matches, r.falsePositives, r.falseNegatives]).toEqual([2, 0, 0]);
    expect(r.mota).toBe(1);
  });

  it('IoU below the threshold never matches', () => {
    const r = clearMot([{ groundTruth: [{ id: 'a', bbox: box(0) }], hypotheses: [{ id: 1, bbox: box(4) }] }]);
    // IoU 6/14 < 0.5
    expect([r.matches, r.falsePositives, r.falseNegatives, r.mota]).toEqual([0, 1, 1, -1]);
    expect(
      clearMot([{ groundTruth: [{ id: 'a', bbox: box(0) }], hypotheses: [{ id: 1, bbox: box(4) }] }], {
        iouThreshold: 0.4,
      }).matches,
    ).toBe(1);
  });

  it('malformed input names the frame and box', () => {
    expect(() => clearMot([{ groundTruth: [{ id: 'a', bbox: [0, 0, -1, 1] }], hypotheses: [] }])).toThrow(
      /frames\[0\]\.groundTruth\[0\] \(id a\)\.bbox'/,
    );
    expect(() =>
      clearMot([
        {
          groundTruth: [],
          hypotheses: [
            { id: 1, bbox: box(0) },
            { id: 1, bbox: box(5) },
          ],
        },
      ]),
    ).toThrow(/frames\[0\]\.hypotheses\[1\] \(id 1\)\.id' expected an id used once per frame/);
  });
});

describe('IDF1', () => {
  it('matches whole trajectories once (hand-computed): the swap costs identity, not only one frame', () => {
    // SWAP_FRAMES: a (4 boxes) agrees with 1 in frame 0 and with 2 in frames 1 and 2; b (3 boxes)
    // with 2 in frame 0 and with 1 in frame 1. Best: a-2 (2 frames) + b-1 (1 frame) = 3 of 7 truths, 6 hypotheses.
    const frames = SWAP_FRAMES;
    const r = identityF1(frames);
    expect([r.idTruePositives, r.idFalsePositives, r.idFalseNegatives]).toEqual([3, 3, 4]);
    expect(r.idf1).toBeCloseTo(6 / 13, 15);
    expect(r.idPrecision).toBeCloseTo(3 / 6, 15);
    expect(r.idRecall).toBeCloseTo(3 / 7, 15);
    // A perfect tracker scores 1; nothing at all is NaN; an empty hypothesis set scores 0.
    const perfect = frames.map((f) => ({ groundTruth: f.groundTruth, hypotheses: f.groundTruth }));
    expect(identityF1(perfect).idf1).toBe(1);
    expect(identityF1([{ groundTruth: [], hypotheses: [] }]).idf1).toBeNaN();
    expect(identityF1(frames.map((f) => ({ ...f, hypotheses: [] }))).idf1).toBe(0);
  });

  it('errors name identityF1 and the argument', () => {
    expect(() => identityF1([{ groundTruth: [{ id: 'a', bbox: [0, 0, -1, 1] }], hypotheses: [] }])).toThrow(
      /identityF1.*frames\[0\].groundTruth\[0\] \(id a\).bbox/,
    );
    expect(() => identityF1([], { iouThreshold: 0 })).toThrow(/identityF1.*options.iouThreshold/);
  });
});

describe('flowEndPointError', () => {
  it('hand-computed EPE, thresholds and KITTI outliers, with and without a valid mask', () => {
    const gt = [0, 0, 3, 4, 10, 0];
    const pred = [0, 0, 0, 0, 10, 0.5];
    const r = flowEndPointError(pred, gt);
    expect(r.epe).toBeCloseTo((0 + 5 + 0.5) / 3, 15);
    expect([r.px1, r.px3, r.px5]).toEqual([2 / 3, 2 / 3, 2 / 3]);
    expect(r.fl).toBeCloseTo(1 / 3, 15);
    const masked = flowEndPointError(pred, gt, [1, 0, 1]);
    expect([masked.epe, masked.pixels, masked.fl]).toEqual([0.25, 2, 0]);
  });

  it('rejects mismatched sizes and unmasked non-finite values', () => {
    expect(() => flowEndPointError([0, 0], [0, 0, 0, 0])).toThrow(
      /groundTruth\.length' expected 2 \(as prediction\), got 4/,
    );
    expect(() => flowEndPointError([0, 0, 0, 0], [0, 0, NaN, 0])).toThrow(/groundTruth at pixel 1' expected finite/);
    expect(flowEndPointError([0, 0, 0, 0], [0, 0, NaN, 0], [1, 0]).pixels).toBe(1);
  });
});

describe('clearMot agrees with py-motmetrics (fixture from scripts/make_mot_fixtures.py)', () => {
  const { cases } = JSON.parse(readFileSync(new URL('./fixtures/mot_motmetrics.json', import.meta.url), 'utf8')) as {
    cases: {
      frames: MotFrame[];
      expected: {
        groundTruth: number;
        matches: number;
        falseNegatives: number;
        falsePositives: number;
        idSwitches: number;
        mota: number;
        motp: number;
      };
    }[];
  };
  cases.forEach(({ frames, expected }, n) => {
    it(`sequence ${n}: ${frames.length} frames`, () => {
      const r = clearMot(frames);
      expect([r.groundTruth, r.matches, r.falseNegatives, r.falsePositives, r.idSwitches]).toEqual([
        expected.groundTruth,
        expected.matches,
        expected.falseNegatives,
        expected.falsePositives,
        expected.idSwitches,
      ]);
      expect(r.mota).toBeCloseTo(expected.mota, 14);
      expect(r.motp).toBeCloseTo(expected.motp, 12);
    });
  });
});

describe('trackJitter', () => {
  it('averages the change of relative box error of each hypothesis on the same object (hand-computed)', () => {
    // Truth a is 10 x 20. Hypothesis 1 is exact, then 1 px right (error x 0.1), then 1 px right and 2 px taller
    // (errors x 0.1, h 0.1): pair changes (0.1 + 0 + 0 + 0) / 4 and (0 + 0 + 0 + 0.1) / 4. Hypothesis 2 sits on
    // truth b in frame 1 and on nothing in frame 2: no pair. Hypothesis 3 jumps from b to a: not the same object.
    const a = (x: number, h = 20) => [x, 0, 10, h];
    const b = [50, 50, 10, 10];
    const frames: MotFrame[] = [
      { groundTruth: [{ id: 'a', bbox: a(0) }], hypotheses: [{ id: 1, bbox: a(0) }] },
      {
        groundTruth: [
          { id: 'a', bbox: a(0) },
          { id: 'b', bbox: b },
        ],
        hypotheses: [
          { id: 1, bbox: a(1) },
          { id: 2, bbox: b },
          { id: 3, bbox: b },
        ],
      },
      {
        groundTruth: [{ id: 'a', bbox: a(0) }],
        hypotheses: [
          { id: 1, bbox: a(1, 22) },
          { id: 2, bbox: [90, 90, 5, 5] },
          { id: 3, bbox: a(0) },
        ],
      },
    ];
    const result = trackJitter(frames);
    expect(result.pairs).toBe(2);
    expect(result.jitter).toBeCloseTo((0.1 / 4 + 0.1 / 4) / 2, 12);
    expect(trackJitter([{ groundTruth: [], hypotheses: [] }]).jitter).toBeNaN();
    expect(() => trackJitter(frames, { iouThreshold: 2 })).toThrow(/trackJitter.*options.iouThreshold/);
    expect(() => trackJitter([{ groundTruth: [{ id: 'a', bbox: [0, 0, 1] }], hypotheses: [] }])).toThrow(
      /trackJitter.*frames\[0\].groundTruth\[0\] \(id a\).bbox/,
    );
  });
});
