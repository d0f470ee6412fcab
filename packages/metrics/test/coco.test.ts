import { Rng } from '@deformjs/core';
import { describe, expect, it } from 'vitest';
import {
  evaluateCoco,
  formatCocoSummary,
  COCO_IOU_THRESHOLDS,
  type CocoAnnotation,
  type CocoDataset,
  type CocoDetection,
} from '../src';

let nextId = 1;
function ann(image_id: number, bbox: number[], extra: Partial<CocoAnnotation> = {}): CocoAnnotation {
  return { id: nextId++, image_id, category_id: 1, bbox, area: bbox[2] * bbox[3], iscrowd: 0, ...extra };
}
function det(image_id: number, bbox: number[], score: number, category_id = 1): CocoDetection {
  return { image_id, category_id, bbox, score };
}
// COCOeval's precision is tp / (tp + fp + eps): a single true positive gives 1 - 2^-52, not 1.
const near = (values: number[]) => values.map((v) => expect.closeTo(v, 12));
const oneOrUndefined = (v: number) => v === -1 || Math.abs(v - 1) < 1e-12;

function dataset(annotations: CocoAnnotation[], imageIds = [1], categoryIds = [1]): CocoDataset {
  return {
    images: imageIds.map((id) => ({ id })),
    categories: categoryIds.map((id) => ({ id, name: `c${id}` })),
    annotations,
  };
}

describe('evaluateCoco: hand-computed cases', () => {
  it('one perfect detection of a medium object: AP and AR 1, small/large undefined (-1)', () => {
    const gt = dataset([ann(1, [10, 10, 50, 50])]);
    const { stats } = evaluateCoco(gt, [det(1, [10, 10, 50, 50], 0.9)]);
    expect(stats).toEqual(near([1, 1, 1, -1, 1, -1, 1, 1, 1, -1, 1, -1]));
  });

  it('a false positive ranked above the true positive halves the precision at every recall', () => {
    const gt = dataset([ann(1, [0, 0, 40, 40])]);
    const r = evaluateCoco(gt, [det(1, [100, 100, 40, 40], 0.9), det(1, [0, 0, 40, 40], 0.8)]);
    expect(r.stats[0]).toBeCloseTo(0.5, 15);
    expect(r.stats[8]).toBeCloseTo(1, 12);
    // AR1 sees only the false positive.
    expect(r.stats[6]).toBe(0);
  });

  it('IoU 0.8 is a match at the 7 thresholds .50 .. .80 only', () => {
    const gt = dataset([ann(1, [0, 0, 100, 100])]);
    const r = evaluateCoco(gt, [det(1, [0, 0, 100, 80], 0.5)]);
    expect(r.stats[0]).toBeCloseTo(0.7, 15);
    expect(r.stats[1]).toBeCloseTo(1, 12);
    expect(r.stats[2]).toBeCloseTo(1, 12);
    expect(r.stats[8]).toBeCloseTo(0.7, 15);
    const [T, R, K, A, M] = r.counts;
    expect([T, R, K, A, M]).toEqual([10, 101, 1, 4, 3]);
    // recall[t, k=0, a=all, m=100]
    const recallAll = COCO_IOU_THRESHOLDS.map((_, t) => r.recall[((t * K + 0) * A + 0) * M + 2]);
    expect(recallAll).toEqual(near([1, 1, 1, 1, 1, 1, 1, 0, 0, 0]));
  });

  it('detections inside a crowd region are ignored, however many; without iscrowd they are false positives', () => {
    const crowd = [0, 0, 200, 200];
    const inside = [det(1, [10, 10, 20, 20], 0.95), det(1, [50, 50, 20, 20], 0.94), det(1, [90, 90, 20, 20], 0.93)];
    const tp = det(1, [300, 300, 50, 50], 0.5);
    const withCrowd = dataset([ann(1, [300, 300, 50, 50]), ann(1, crowd, { iscrowd: 1 })]);
    expect(evaluateCoco(withCrowd, [...inside, tp]).stats[0]).toBeCloseTo(1, 12);
    const noCrowd = dataset([ann(1, [300, 300, 50, 50]), ann(1, crowd)]);
    // Now 2 positives; the three small boxes are false positives above the one true positive.
    const r = evaluateCoco(noCrowd, [...inside, tp]);
    expect(r.stats[8]).toBeCloseTo(0.5, 15);
    expect(r.stats[1]).toBeCloseTo((51 * 0.25 + 50 * 0) / 101, 15);
  });

  it('an image with only crowd boxes defines nothing: every stat is -1', () => {
    const gt = dataset([ann(1, [0, 0, 100, 100], { iscrowd: 1 })]);
    const r = evaluateCoco(gt, [det(1, [10, 10, 20, 20], 0.9)]);
    expect(r.stats).toEqual(new Array(12).fill(-1));
  });

  it('no detections at all: AP and AR 0 where ground truth exists', () => {
    const gt = dataset([ann(1, [0, 0, 100, 100])]);
    expect(evaluateCoco(gt, []).stats).toEqual([0, 0, 0, -1, -1, 0, 0, 0, 0, -1, -1, 0]);
  });

  it('a category without ground truth is -1 and left out of the means', () => {
    const gt = dataset([ann(1, [0, 0, 100, 100])], [1], [1, 2]);
    const r = evaluateCoco(gt, [det(1, [0, 0, 100, 100], 0.9), det(1, [0, 0, 100, 100], 0.8, 2)]);
    expect(r.perCategory.map((c) => [c.categoryId, c.name, c.ap, c.ar])).toEqual([
      [1, 'c1', expect.closeTo(1, 12), 1],
      [2, 'c2', -1, -1],
    ]);
    expect(r.stats[0]).toBeCloseTo(1, 12);
  });

  it('maxDets: a true positive ranked second counts for AR10 but not AR1', () => {
    const gt = dataset([ann(1, [0, 0, 100, 100]), ann(1, [200, 200, 100, 100])]);
    const r = evaluateCoco(gt, [det(1, [0, 0, 100, 100], 0.9), det(1, [200, 200, 100, 100], 0.8)]);
    expect(r.stats[6]).toBeCloseTo(0.5, 15);
    expect(r.stats[7]).toBeCloseTo(1, 12);
  });

  it('area ranges use the annotation area; an unmatched detection outside the range is ignored', () => {
    // A small object (area 100) and a large one; an unmatched large detection is ignored for 'small'.
    const gt = dataset([ann(1, [0, 0, 10, 10]), ann(1, [200, 200, 150, 150])]);
    const r = evaluateCoco(gt, [
      det(1, [500, 0, 120, 120], 0.99),
      det(1, [0, 0, 10, 10], 0.9),
      det(1, [200, 200, 150, 150], 0.8),
    ]);
    expect(r.stats[3]).toBeCloseTo(1, 12); // APs
    expect(r.stats[5]).toBeLessThan(1); // APl: the large false positive ranks first
    // The same box with an annotation area in 'medium' moves it out of 'small'.
    const moved = dataset([ann(1, [0, 0, 10, 10], { area: 2000 }), ann(1, [200, 200, 150, 150])]);
    expect(evaluateCoco(moved, [det(1, [0, 0, 10, 10], 0.9)]).stats.slice(3, 6)).toEqual(near([-1, 1, 0]));
  });

  it('refuses an area range whose minimum exceeds its maximum', () => {
    const gt = dataset([ann(1, [0, 0, 10, 10])]);
    expect(() => evaluateCoco(gt, [], { areaRanges: [{ label: 'all', range: [10, 1] }] })).toThrow(
      /evaluateCoco: argument 'options\.areaRanges\[0\]\.range' expected \[min, max\] with min <= max, got \[10, 1\]/,
    );
  });

  it('empty images and unrelated categories change nothing', () => {
    const base = dataset([ann(1, [0, 0, 50, 50])]);
    const results = [det(1, [0, 0, 50, 45], 0.9), det(1, [60, 60, 20, 20], 0.3)];
    const padded = dataset(base.annotations as CocoAnnotation[], [1, 2, 3, 4], [1, 9]);
    expect(evaluateCoco(padded, results).stats).toEqual(evaluateCoco(base, results).stats);
  });

  it('a ground-truth box is matched once: a duplicate detection is a false positive', () => {
    const gt = dataset([ann(1, [0, 0, 100, 100])]);
    const r = evaluateCoco(gt, [det(1, [0, 0, 100, 100], 0.9), det(1, [0, 0, 100, 100], 0.8)]);
    // Recall 1 is reached at the first detection with precision 1, so the duplicate costs nothing in AP...
    expect(r.stats[0]).toBeCloseTo(1, 12);
    // ...but it does when ranked first with a worse box (it takes the match at IoU .5 only).
    const r2 = evaluateCoco(gt, [det(1, [0, 0, 100, 60], 0.9), det(1, [0, 0, 100, 100], 0.8)]);
    expect(r2.stats[1]).toBeCloseTo(1, 12);
    expect(r2.stats[2]).toBeCloseTo(0.5, 15);
  });

  it('options.imgIds and catIds restrict the evaluation', () => {
    const gt = dataset([ann(1, [0, 0, 50, 50]), ann(2, [0, 0, 50, 50])], [1, 2]);
    const results = [det(1, [0, 0, 50, 50], 0.9)];
    expect(evaluateCoco(gt, results).stats[8]).toBe(0.5);
    expect(evaluateCoco(gt, results, { imgIds: [1] }).stats[8]).toBeCloseTo(1, 12);
    expect(evaluateCoco(gt, results, { imgIds: [2] }).stats[8]).toBe(0);
    expect(evaluateCoco(gt, results, { catIds: [1] }).params.catIds).toEqual([1]);
  });
});

function randomScene(seed: number) {
  const rng = new Rng(seed);
  const images = Array.from({ length: 12 }, (_, i) => ({ id: 100 + 7 * i }));
  const categories = [{ id: 2 }, { id: 5 }, { id: 11 }];
  const annotations: CocoAnnotation[] = [];
  let id = 1;
  for (const img of images) {
    const n = rng.int(6);
    for (let j = 0; j < n; j++) {
      const w = 4 + rng.uniform(0, 200);
      const h = 4 + rng.uniform(0, 200);
      annotations.push({
        id: id++,
        image_id: img.id,
        category_id: categories[rng.int(3)].id,
        bbox: [rng.uniform(0, 400), rng.uniform(0, 300), w, h],
        area: w * h * rng.uniform(0.5, 1),
        iscrowd: rng.next() < 0.1 ? 1 : 0,
      });
    }
  }
  return { rng, gt: { images, categories, annotations } as CocoDataset };
}

describe('formatCocoSummary', () => {
  it("prints COCOeval.summarize()'s 12 lines", () => {
    const gt = dataset([ann(1, [0, 0, 100, 100])]);
    const lines = formatCocoSummary(evaluateCoco(gt, [det(1, [0, 0, 100, 80], 0.5)])).split('\n');
    expect(lines).toHaveLength(12);
    expect(lines[0]).toBe(' Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.700');
    expect(lines[1]).toBe(' Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets=100 ] = 1.000');
    expect(lines[3]).toBe(' Average Precision  (AP) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = -1.000');
    expect(lines[6]).toBe(' Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ] = 0.700');
  });
});

describe('evaluateCoco: properties', () => {
  it('perfect detections give AP 1 and AR 1 in every defined setting (AR1 aside)', () => {
    const { rng, gt } = randomScene(3);
    const results = gt.annotations
      .filter((a) => !a.iscrowd)
      .map((a) => det(a.image_id, [...a.bbox], rng.next(), a.category_id));
    const { stats, perCategory } = evaluateCoco(gt, results);
    // All but AR1: with several objects per image and category one detection cannot recall them all.
    stats.forEach((s, i) => expect(i === 6 || oneOrUndefined(s)).toBe(true));
    expect(stats[6]).toBeLessThan(1);
    expect(stats[0]).toBeCloseTo(1, 12);
    for (const c of perCategory) expect(oneOrUndefined(c.ap)).toBe(true);
  });

  it('permuting images, categories, annotations and results (distinct scores) changes nothing', () => {
    const { rng, gt } = randomScene(4);
    const results: CocoDetection[] = [];
    for (const a of gt.annotations) {
      const [x, y, w, h] = a.bbox;
      results.push(
        det(
          a.image_id,
          [x + rng.normal(0, 4), y + rng.normal(0, 4), w * rng.uniform(0.8, 1.2), h * rng.uniform(0.8, 1.2)],
          rng.next(),
          a.category_id,
        ),
      );
    }
    for (let j = 0; j < 30; j++)
      results.push(
        det(
          gt.images[rng.int(12)].id,
          [rng.uniform(0, 400), rng.uniform(0, 300), 30, 40],
          rng.next(),
          gt.categories[rng.int(3)].id,
        ),
      );
    const reference = evaluateCoco(gt, results);
    expect(reference.stats[0]).toBeGreaterThan(0);
    expect(reference.stats[0]).toBeLessThan(1);
    const shuffled: CocoDataset = {
      images: rng.shuffle([...gt.images]),
      categories: rng.shuffle([...gt.categories]),
      annotations: rng.shuffle([...gt.annotations]),
    };
    const again = evaluateCoco(shuffled, rng.shuffle([...results]));
    expect(again.stats).toEqual(reference.stats);
    expect(again.precision).toEqual(reference.precision);
  });
});

describe('evaluateCoco: malformed input names the record', () => {
  const gt = dataset([ann(1, [0, 0, 10, 10])], [1, 2]);
  const ok = det(1, [0, 0, 10, 10], 0.5);
  const cases: [string, () => unknown, RegExp][] = [
    [
      'unknown image id in results',
      () => evaluateCoco(gt, [ok, det(7, [0, 0, 1, 1], 0.5)]),
      /results\[1\] \(image_id 7\)\.image_id' expected the id of an image/,
    ],
    [
      'unknown category id in results',
      () => evaluateCoco(gt, [det(1, [0, 0, 1, 1], 0.5, 3)]),
      /results\[0\] \(image_id 1\)\.category_id' expected the id of a category.*got 3/,
    ],
    [
      'NaN score',
      () => evaluateCoco(gt, [ok, ok, { ...ok, score: NaN }]),
      /results\[2\] \(image_id 1\)\.score' expected a finite number, got NaN/,
    ],
    [
      'missing score',
      () => evaluateCoco(gt, [{ image_id: 1, category_id: 1, bbox: [0, 0, 1, 1] } as unknown as CocoDetection]),
      /results\[0\] \(image_id 1\)\.score' expected a finite number \(the field is missing\)/,
    ],
    [
      'negative width',
      () => evaluateCoco(gt, [det(1, [0, 0, -1, 1], 0.5)]),
      /results\[0\] \(image_id 1\)\.bbox' expected \[x, y, w, h\] with w >= 0/,
    ],
    [
      'short box',
      () => evaluateCoco(gt, [det(1, [0, 0, 1], 0.5)]),
      /results\[0\] \(image_id 1\)\.bbox' expected \[x, y, w, h\] of 4 finite numbers/,
    ],
    [
      'missing area',
      () =>
        evaluateCoco(
          dataset([{ id: 9, image_id: 1, category_id: 1, bbox: [0, 0, 1, 1] } as unknown as CocoAnnotation]),
          [],
        ),
      /annotations\[0\] \(id 9\)\.area' expected a finite number \(the field is missing\)/,
    ],
    [
      'annotation on an unknown image',
      () => evaluateCoco(dataset([ann(5, [0, 0, 1, 1], { id: 42 })]), []),
      /annotations\[0\] \(id 42\)\.image_id' expected the id of an image in groundTruth\.images, got 5/,
    ],
    [
      'duplicate annotation id',
      () => evaluateCoco(dataset([ann(1, [0, 0, 1, 1], { id: 3 }), ann(1, [0, 0, 1, 1], { id: 3 })]), []),
      /annotations\[1\] \(id 3\)\.id' expected an annotation id not used before/,
    ],
    [
      'bad iscrowd',
      () => evaluateCoco(dataset([ann(1, [0, 0, 1, 1], { id: 4, iscrowd: 2 })]), []),
      /annotations\[0\] \(id 4\)\.iscrowd' expected 0, 1 or a boolean, got 2/,
    ],
    [
      'duplicate image id',
      () => evaluateCoco({ ...gt, images: [{ id: 1 }, { id: 1 }] }, []),
      /groundTruth\.images\[1\]\.id' expected an id not used before/,
    ],
    [
      'results not an array',
      () => evaluateCoco(gt, {} as unknown as CocoDetection[]),
      /argument 'results' expected an array/,
    ],
    [
      'two maxDets',
      () => evaluateCoco(gt, [], { maxDets: [1, 10] as unknown as [number, number, number] }),
      /options\.maxDets' expected three positive integers/,
    ],
    [
      'imgIds not in the ground truth',
      () => evaluateCoco(gt, [], { imgIds: [1, 99] }),
      /options\.imgIds\[1\]' expected an id present in the ground truth, got 99/,
    ],
  ];
  for (const [name, run, message] of cases) {
    it(name, () => {
      expect(run).toThrow(message);
      expect(run).toThrow(/^evaluateCoco: /);
    });
  }
});
