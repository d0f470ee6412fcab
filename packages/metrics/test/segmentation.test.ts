import { readFileSync } from 'node:fs';
import { Rng } from '@deformjs/core';
import { describe, expect, it } from 'vitest';
import { SegmentationEvaluator, confusionMetrics, dilateSquare, labelBoundaries } from '../src';

// 3 x 4 maps, one void pixel in the ground truth.
const GT = new Uint8Array([0, 0, 1, 1, 0, 0, 1, 1, 255, 0, 1, 1]);
const PRED = new Uint8Array([0, 1, 1, 1, 0, 0, 1, 0, 1, 0, 1, 1]);

describe('segmentation: confusion-matrix metrics', () => {
  it('hand-computed mIoU, FWIoU, mAcc, gAcc with the void pixel ignored', () => {
    const ev = new SegmentationEvaluator({ numClasses: 2 }).update(PRED, GT, 3, 4);
    expect(Array.from(ev.confusion)).toEqual([4, 1, 1, 5]);
    const r = ev.result();
    expect(r.pixels).toBe(11);
    expect(r.iou[0]).toBeCloseTo(4 / 6, 15);
    expect(r.iou[1]).toBeCloseTo(5 / 7, 15);
    expect(r.mIoU).toBeCloseTo(29 / 42, 15);
    expect(r.fwIoU).toBeCloseTo(160 / 231, 15);
    expect(r.mAcc).toBeCloseTo(49 / 60, 15);
    expect(r.gAcc).toBeCloseTo(9 / 11, 15);
  });

  it('classes absent from ground truth and prediction are NaN and out of the means', () => {
    const r = confusionMetrics([3, 1, 0, 0, 2, 0, 0, 0, 0], 3);
    expect(r.iou[2]).toBeNaN();
    expect(r.accuracy[2]).toBeNaN();
    expect(r.mIoU).toBeCloseTo((3 / 4 + 2 / 3) / 2, 15);
    // A class predicted but never in ground truth has IoU 0 (it counts) and no accuracy.
    const fp = confusionMetrics([1, 1, 0, 0], 2);
    expect(fp.iou).toEqual([0.5, 0]);
    expect(fp.accuracy).toEqual([0.5, NaN]);
    expect(fp.mAcc).toBe(0.5);
  });

  it('streams: two updates equal one over the concatenated images', () => {
    const rng = new Rng(5);
    const maps = Array.from({ length: 4 }, () => Uint8Array.from({ length: 6 * 7 }, () => rng.int(3)));
    const a = new SegmentationEvaluator({ numClasses: 3 })
      .update(maps[0], maps[1], 6, 7)
      .update(maps[2], maps[3], 6, 7);
    const pred = new Uint8Array([...maps[0], ...maps[2]]);
    const gt = new Uint8Array([...maps[1], ...maps[3]]);
    // Stacked vertically the two images touch, which changes boundaries but not the plain confusion matrix.
    const b = new SegmentationEvaluator({ numClasses: 3 }).update(pred, gt, 12, 7);
    expect(a.confusion).toEqual(b.confusion);
    a.reset();
    expect(a.confusion.every((v) => v === 0)).toBe(true);
  });
});

describe('segmentation: boundaries, BIoU and BF1', () => {
  it('label boundaries: a differently labelled pixel (void included) in the 3x3 neighbourhood', () => {
    expect(Array.from(labelBoundaries(GT, 3, 4))).toEqual([0, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 0]);
    // With the void value given, void pixels are not boundary pixels themselves.
    expect(Array.from(labelBoundaries(GT, 3, 4, 255))).toEqual([0, 1, 1, 0, 1, 1, 1, 0, 0, 1, 1, 0]);
  });

  it('square dilation matches a brute-force max filter', () => {
    const rng = new Rng(9);
    const H = 9;
    const W = 13;
    const mask = Uint8Array.from({ length: H * W }, () => (rng.next() < 0.08 ? 1 : 0));
    for (const r of [0, 1, 2, 5]) {
      const expected = new Uint8Array(H * W);
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          for (let yy = Math.max(0, y - r); yy <= Math.min(H - 1, y + r); yy++) {
            for (let xx = Math.max(0, x - r); xx <= Math.min(W - 1, x + r); xx++)
              if (mask[yy * W + xx]) expected[y * W + x] = 1;
          }
        }
      }
      expect(dilateSquare(mask, H, W, r)).toEqual(expected);
    }
  });

  it('BIoU with radius 0 counts only boundary pixels; a radius covering the image gives mIoU', () => {
    const tight = new SegmentationEvaluator({ numClasses: 2, boundaryRadius: 0 }).update(PRED, GT, 3, 4);
    expect(Array.from(tight.bandConfusion)).toEqual([3, 1, 0, 3]);
    expect(tight.result().bIoU).toBeCloseTo(0.75, 15);
    const wide = new SegmentationEvaluator({ numClasses: 2 }).update(PRED, GT, 3, 4).result();
    expect(wide.bIoU).toBeCloseTo(wide.mIoU, 15);
  });

  it('BF1 hand-computed at tolerance 0, and 1 when the tolerance covers the image', () => {
    const r = new SegmentationEvaluator({ numClasses: 2, boundaryTolerance: 0 }).update(PRED, GT, 3, 4).result();
    expect(r.boundaryPrecision[0]).toBeCloseTo(3 / 5, 15);
    expect(r.boundaryRecall[0]).toBeCloseTo(3 / 4, 15);
    // Predicted class-1 boundary: 6 pixels on ground truth plus the one on the void pixel (counted, as the
    // reference counts it).
    expect(r.boundaryPrecision[1]).toBeCloseTo(3 / 7, 15);
    expect(r.boundaryRecall[1]).toBe(1);
    expect(r.bF1PerClass[0]).toBeCloseTo(2 / 3, 15);
    expect(r.bF1PerClass[1]).toBeCloseTo(0.6, 15);
    expect(r.bF1).toBeCloseTo(19 / 30, 15);
    const noBackground = new SegmentationEvaluator({ numClasses: 2, boundaryTolerance: 0, dropBackground: true })
      .update(PRED, GT, 3, 4)
      .result();
    expect(noBackground.bF1).toBeCloseTo(0.6, 15);
    const loose = new SegmentationEvaluator({ numClasses: 2, boundaryTolerance: 5 }).update(PRED, GT, 3, 4).result();
    expect(loose.bF1).toBe(1);
  });

  it('a 1-px shift: BF1 1 within tolerance, BIoU and tolerance-0 BF1 below 1; a perfect prediction scores 1', () => {
    const H = 16;
    const W = 16;
    const gt = new Uint8Array(H * W);
    const pred = new Uint8Array(H * W);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        gt[y * W + x] = x >= 8 ? 1 : 0;
        pred[y * W + x] = x >= 9 ? 1 : 0;
      }
    }
    const shifted = new SegmentationEvaluator({ numClasses: 3 }).update(pred, gt, H, W).result();
    expect(shifted.bF1).toBe(1);
    expect(shifted.bIoU).toBeLessThan(1);
    // Class 2 appears nowhere: NaN, left out.
    expect(shifted.bF1PerClass[2]).toBeNaN();
    const strict = new SegmentationEvaluator({ numClasses: 3, boundaryTolerance: 0 }).update(pred, gt, H, W).result();
    // GT boundary columns 7 (class 0) and 8 (class 1); predicted columns 8 (class 0) and 9 (class 1): none coincide.
    expect(strict.bF1).toBe(0);
    const perfect = new SegmentationEvaluator({ numClasses: 3 }).update(gt, gt, H, W).result();
    expect([perfect.mIoU, perfect.bIoU, perfect.bF1, perfect.gAcc, perfect.mAcc, perfect.fwIoU]).toEqual([
      1, 1, 1, 1, 1, 1,
    ]);
  });

  it('a class with ground-truth boundaries that is never predicted has BF1 0', () => {
    const gt = new Uint8Array([0, 0, 1, 1, 0, 0, 1, 1]);
    const pred = new Uint8Array(8);
    const r = new SegmentationEvaluator({ numClasses: 2 }).update(pred, gt, 2, 4).result();
    expect(r.bF1PerClass[1]).toBe(0);
    expect(r.bF1PerClass[0]).toBe(0); // predicting one label everywhere leaves no predicted boundary
    expect(r.bF1).toBe(0);
  });

  it('malformed input names the image and pixel', () => {
    const ev = new SegmentationEvaluator({ numClasses: 2 });
    expect(() => ev.update(PRED, GT.slice(1), 3, 4)).toThrow(
      /update #0: groundTruth.length' expected 12 \(H 3 x W 4\), got 11/,
    );
    expect(() => ev.update(new Uint8Array([0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0]), GT, 3, 4)).toThrow(
      /prediction\[2\] \(y 0, x 2\)' expected a class in \[0, 2\), got 2/,
    );
    expect(() => ev.update(PRED, new Uint8Array([0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0]), 3, 4)).toThrow(
      /groundTruth\[5\] \(y 1, x 1\)' expected a class in \[0, 2\) or the ignore label 255, got 7/,
    );
    expect(() => new SegmentationEvaluator({ numClasses: 2, ignoreLabel: 1 })).toThrow(
      /ignoreLabel' expected a value outside the classes/,
    );
  });
});

interface AutosegFixture {
  numClasses: number;
  images: {
    height: number;
    width: number;
    groundTruth: number[];
    prediction: number[];
    counts: Record<
      string,
      {
        radius: number;
        tolerance: number;
        confusion: number[];
        bandConfusion: number[];
        bandConfusionDropBackground: number[];
        nFg: number[];
        nGt: number[];
        matchFg: number[];
        matchGt: number[];
      }
    >;
  }[];
}

describe('segmentation: the counts of Auto Seg-Loss evaluator (fixtures from scripts/make_segmentation_fixtures.py)', () => {
  const fixture: AutosegFixture = JSON.parse(
    readFileSync(new URL('./fixtures/segmentation_autoseg.json', import.meta.url), 'utf8'),
  );
  for (const key of Object.keys(fixture.images[0].counts)) {
    it(`per image and accumulated, ${key}`, () => {
      const { radius, tolerance } = fixture.images[0].counts[key];
      const all = new SegmentationEvaluator({
        numClasses: fixture.numClasses,
        boundaryRadius: radius,
        boundaryTolerance: tolerance,
      });
      const allNoBg = new SegmentationEvaluator({
        numClasses: fixture.numClasses,
        boundaryRadius: radius,
        boundaryTolerance: tolerance,
        dropBackground: true,
      });
      const sum = (
        name: 'confusion' | 'bandConfusion' | 'bandConfusionDropBackground' | 'nFg' | 'nGt' | 'matchFg' | 'matchGt',
      ) =>
        fixture.images.reduce(
          (acc, img) => acc.map((v, i) => v + img.counts[key][name][i]),
          new Array(fixture.images[0].counts[key][name].length).fill(0),
        );
      for (const img of fixture.images) {
        const expected = img.counts[key];
        const pred = Int32Array.from(img.prediction);
        const gt = Int32Array.from(img.groundTruth);
        const one = new SegmentationEvaluator({
          numClasses: fixture.numClasses,
          boundaryRadius: radius,
          boundaryTolerance: tolerance,
        }).update(pred, gt, img.height, img.width);
        expect(Array.from(one.confusion)).toEqual(expected.confusion);
        expect(Array.from(one.bandConfusion)).toEqual(expected.bandConfusion);
        expect(Array.from(one.predTotal)).toEqual(expected.nFg);
        expect(Array.from(one.gtTotal)).toEqual(expected.nGt);
        expect(Array.from(one.predMatched)).toEqual(expected.matchFg);
        expect(Array.from(one.gtMatched)).toEqual(expected.matchGt);
        all.update(pred, gt, img.height, img.width);
        allNoBg.update(pred, gt, img.height, img.width);
      }
      expect(Array.from(all.confusion)).toEqual(sum('confusion'));
      expect(Array.from(all.bandConfusion)).toEqual(sum('bandConfusion'));
      expect(Array.from(allNoBg.bandConfusion)).toEqual(sum('bandConfusionDropBackground'));
      expect(Array.from(all.gtMatched)).toEqual(sum('matchGt'));
      // The metrics from the counts, as the reference's class_bf1 / class_biou (without its 1e-8).
      const nFg = sum('nFg');
      const nGt = sum('nGt');
      const matchFg = sum('matchFg');
      const matchGt = sum('matchGt');
      const f1 = nGt.map((g, c) => {
        const p = nFg[c] > 0 ? matchFg[c] / nFg[c] : 0;
        const r = matchGt[c] / g;
        return p + r > 0 ? (2 * p * r) / (p + r) : g > 0 ? 0 : NaN;
      });
      const defined = f1.filter((v) => !Number.isNaN(v));
      expect(all.result().bF1).toBeCloseTo(defined.reduce((s, v) => s + v, 0) / defined.length, 14);
    });
  }
});
