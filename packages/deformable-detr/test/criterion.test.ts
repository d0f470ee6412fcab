import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { initBackend, Rng } from '@deformjs/core';
import { TEST_BACKENDS, assertAllClose, assertNoTensorLeak } from '@deformjs/core/testing';
import {
  SetCriterion,
  hungarianMatch,
  matchingCost,
  postProcess,
  sigmoidFocalLoss,
  toCocoResults,
  type DetectionTarget,
} from '../src/index';
import { fixturePath } from './helpers';

interface Layer {
  logits: number[];
  boxes: number[];
  shape: [number, number, number];
  cost: number[][];
  indices: [number[], number[]][];
  losses: Record<string, number>;
}
interface Case {
  focal: boolean;
  num_classes: number;
  targets: { labels: number[]; boxes: number[] }[];
  layers: Layer[];
  total: number;
}
const fixture = JSON.parse(readFileSync(fixturePath('criterion.json'), 'utf8')) as {
  focal_loss: { logits: number[]; targets: number[]; shape: number[]; sum: number };
  focal: Case;
  softmax: Case;
};

const targetsOf = (c: Case): DetectionTarget[] =>
  c.targets.map((t) => ({ labels: Int32Array.from(t.labels), boxes: Float32Array.from(t.boxes) }));

describe('matcher (plain arrays)', () => {
  for (const kind of ['focal', 'softmax'] as const) {
    it(`${kind}: cost matrices and assignments equal the official matcher with scipy`, () => {
      const c = fixture[kind];
      const targets = targetsOf(c);
      for (const layer of c.layers) {
        const [n, q, classes] = layer.shape;
        targets.forEach((t, b) => {
          const cost = matchingCost(
            layer.logits.slice(b * q * classes, (b + 1) * q * classes),
            layer.boxes.slice(b * q * 4, (b + 1) * q * 4),
            q,
            classes,
            t,
            { kind, costClass: kind === 'focal' ? 2 : 1 },
          );
          const s = t.labels.length;
          assertAllClose(cost, layer.cost[b].slice(b * q * s, (b + 1) * q * s), { atol: 1e-5, name: `cost[${b}]` });
        });
        const matches = hungarianMatch(layer.logits, layer.boxes, { n, q, c: classes }, targets, {
          kind,
          costClass: kind === 'focal' ? 2 : 1,
        });
        matches.forEach((m, b) => {
          expect(Array.from(m.queries)).toEqual(layer.indices[b][0]);
          expect(Array.from(m.targets)).toEqual(layer.indices[b][1]);
        });
      }
    });
  }

  it('finds the minimum-cost assignment of a tiny case (brute force over all injections)', () => {
    const rng = new Rng(5);
    for (let trial = 0; trial < 20; trial++) {
      const q = 5;
      const t = 1 + rng.int(3);
      const logits = rng.normalArray(q * 3, 0, 2);
      const boxes = Float32Array.from({ length: q * 4 }, (_, i) =>
        i % 4 < 2 ? rng.uniform(0.2, 0.8) : rng.uniform(0.05, 0.4),
      );
      const target: DetectionTarget = {
        labels: Int32Array.from({ length: t }, () => rng.int(3)),
        boxes: Float32Array.from({ length: t * 4 }, (_, i) =>
          i % 4 < 2 ? rng.uniform(0.2, 0.8) : rng.uniform(0.05, 0.4),
        ),
      };
      const cost = matchingCost(logits, boxes, q, 3, target);
      let best = Infinity;
      const visit = (j: number, used: Set<number>, total: number) => {
        if (j === t) return void (best = Math.min(best, total));
        for (let i = 0; i < q; i++) if (!used.has(i)) visit(j + 1, new Set([...used, i]), total + cost[i * t + j]);
      };
      visit(0, new Set(), 0);
      const [m] = hungarianMatch(logits, boxes, { n: 1, q, c: 3 }, [target]);
      expect(m.queries.length).toBe(t);
      const total = Array.from(m.queries).reduce((s, i, k) => s + cost[i * t + m.targets[k]], 0);
      expect(total).toBeCloseTo(best, 9);
    }
  });

  it('rejects mismatched targets clearly', () => {
    expect(() => hungarianMatch(new Float32Array(6), new Float32Array(8), { n: 1, q: 2, c: 3 }, [])).toThrow(
      /hungarianMatch.*targets.*one target per image \(1\)/,
    );
    expect(() =>
      hungarianMatch(new Float32Array(6), new Float32Array(8), { n: 1, q: 2, c: 3 }, [
        { labels: Int32Array.of(0), boxes: new Float32Array(3) },
      ]),
    ).toThrow(/targets\[0\]\.boxes/);
  });
});

for (const backend of TEST_BACKENDS) {
  describe(`criterion on ${backend}`, () => {
    it('sigmoid focal loss equals torchvision', async () => {
      await initBackend(backend);
      const f = fixture.focal_loss;
      const value = tf.tidy(
        () => sigmoidFocalLoss(tf.tensor(f.logits, f.shape), tf.tensor(f.targets, f.shape)).dataSync()[0],
      );
      expect(Math.abs(value - f.sum)).toBeLessThan(1e-5 * Math.max(1, f.sum));
    });

    for (const kind of ['focal', 'softmax'] as const) {
      it(`${kind}: loss terms of the last and auxiliary layers and the weighted total equal the official SetCriterion`, async () => {
        await initBackend(backend);
        const c = fixture[kind];
        const t = (layer: Layer) => ({
          predLogits: tf.tensor3d(layer.logits, layer.shape),
          predBoxes: tf.tensor3d(layer.boxes, [layer.shape[0], layer.shape[1], 4]),
        });
        const [aux, last] = c.layers.map(t);
        const criterion = new SetCriterion({ numClasses: c.num_classes, kind });
        const result = await assertNoTensorLeak(() => criterion.forward({ ...last, aux: [aux] }, targetsOf(c)));
        for (const [name, expected] of Object.entries(c.layers[1].losses))
          expect(result.components[name].dataSync()[0]).toBeCloseTo(expected, 5);
        for (const [name, expected] of Object.entries(c.layers[0].losses))
          expect(result.components[`${name}_0`].dataSync()[0]).toBeCloseTo(expected, 5);
        expect(result.loss.dataSync()[0]).toBeCloseTo(c.total, 4);
        tf.dispose([
          result.loss,
          ...Object.values(result.components),
          aux.predLogits,
          aux.predBoxes,
          last.predLogits,
          last.predBoxes,
        ]);
      });
    }

    it('gradients reach logits and boxes; images without objects only add classification loss', async () => {
      await initBackend(backend);
      const logits = tf.tensor3d([0.1, -1, 2, 0.3, 0, 0, 1, 1], [2, 2, 2]);
      const boxes = tf.tensor3d(
        [0.5, 0.5, 0.2, 0.2, 0.3, 0.3, 0.1, 0.1, 0.5, 0.5, 0.2, 0.2, 0.3, 0.3, 0.1, 0.1],
        [2, 2, 4],
      );
      const targets = [
        { labels: Int32Array.of(1), boxes: Float32Array.of(0.45, 0.5, 0.2, 0.25) },
        { labels: new Int32Array(0), boxes: new Float32Array(0) },
      ];
      const criterion = new SetCriterion({ numClasses: 2 });
      await assertNoTensorLeak(() => {
        const [gl, gb] = tf.grads((l: tf.Tensor, b: tf.Tensor) => {
          const r = criterion.forward({ predLogits: l, predBoxes: b, aux: [] }, targets);
          tf.dispose(Object.values(r.components));
          return r.loss;
        })([logits, boxes]);
        const boxGrad = gb.arraySync() as number[][][];
        expect(Math.abs(boxGrad[0][0][0])).toBeGreaterThan(0); // query 0 of image 0 is the match
        expect(boxGrad[1].flat().every((v) => v === 0)).toBe(true); // image 1 has nothing to match
        expect(Math.abs((gl.arraySync() as number[][][])[1][0][0])).toBeGreaterThan(0); // but its logits are pushed down
        tf.dispose([gl, gb]);
      });
      expect(() => criterion.forward({ predLogits: logits, predBoxes: boxes, aux: [] }, [targets[0]])).toThrow(
        /SetCriterion.*targets.*one target per image \(2\)/,
      );
      expect(() =>
        criterion.forward({ predLogits: logits, predBoxes: boxes, aux: [] }, [
          { labels: Int32Array.of(2), boxes: new Float32Array(4) },
          targets[1],
        ]),
      ).toThrow(/labels in \[0, 2\)/);
      expect(() =>
        new SetCriterion({ numClasses: 2, kind: 'softmax' }).forward(
          { predLogits: logits, predBoxes: boxes, aux: [] },
          targets,
        ),
      ).toThrow(/3 classes/);
      tf.dispose([logits, boxes]);
    });

    it('post-processing takes the top-k over queries x classes and scales boxes to pixels', async () => {
      await initBackend(backend);
      // 1 image, 3 queries, 2 classes.
      const logits = tf.tensor3d([
        [
          [0, 3],
          [-1, -2],
          [2, 1],
        ],
      ]);
      const boxes = tf.tensor3d([
        [
          [0.5, 0.5, 0.2, 0.4],
          [0.1, 0.1, 0.1, 0.1],
          [0.25, 0.75, 0.5, 0.5],
        ],
      ]);
      const [det] = postProcess({ predLogits: logits, predBoxes: boxes }, [[100, 200]], { topK: 3 });
      expect(Array.from(det.labels)).toEqual([1, 0, 1]);
      expect(Array.from(det.scores)).toEqual(
        [3, 2, 1].map((x) => Math.fround(1 / (1 + Math.exp(-x)))).map((x) => expect.closeTo(x, 6)),
      );
      assertAllClose(det.boxes, [80, 30, 120, 70, 0, 50, 100, 100, 0, 50, 100, 100], { atol: 1e-4 });
      const coco = toCocoResults(det, 42, [7, 9]);
      expect(coco[0]).toEqual({
        image_id: 42,
        category_id: 9,
        bbox: [expect.closeTo(80, 4), expect.closeTo(30, 4), expect.closeTo(40, 4), expect.closeTo(40, 4)],
        score: expect.closeTo(0.9526, 3),
      });
      const [soft] = postProcess({ predLogits: logits, predBoxes: boxes }, [[100, 200]], { kind: 'softmax' });
      expect(Array.from(soft.labels)).toEqual([0, 0, 0]); // the last class is "no object"
      expect(() => postProcess({ predLogits: logits, predBoxes: boxes }, [])).toThrow(/postProcess.*targetSizes/);
      tf.dispose([logits, boxes]);
    });
  });
}
