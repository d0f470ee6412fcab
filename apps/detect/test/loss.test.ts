import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { Rng, initBackend } from '@deformjs/core';
import { collate } from '@deformjs/datasets';
import { detectorKind } from '../src/detectors';

/** One 32 px image of noise with two boxes (xyxy pixels), as the loader hands it over. */
function batch() {
  const rng = new Rng(3);
  return collate([
    {
      id: 1,
      image: Float32Array.from({ length: 32 * 32 * 3 }, () => rng.uniform(-1, 1)),
      width: 32,
      height: 32,
      origWidth: 32,
      origHeight: 32,
      boxes: Float32Array.of(2, 3, 14, 12, 10, 8, 30, 28),
      labels: Int32Array.of(0, 2),
      iscrowd: new Uint8Array(2),
      area: Float32Array.of(108, 400),
    },
  ]);
}

describe('--cls-loss-coef', () => {
  it.each(['deformable-detr', 'detr'])(
    '%s: reweights only the classification terms; the matching (and so every term) stays the same',
    async (name) => {
      await initBackend('cpu');
      const kind = detectorKind(name);
      const config = {
        ...(kind.config({ preset: 'tiny', variant: kind.variants[0], numClasses: 3, seed: 0 }) as object),
      };
      const input = batch();
      const lossWith = (clsLossCoef?: number) => {
        const detector = kind.build({ ...config, dropout: 0 }, { clsLossCoef });
        try {
          const { loss, components } = detector.loss(input);
          const values = Object.fromEntries(Object.entries(components).map(([k, v]) => [k, v.dataSync()[0]]));
          const total = loss.dataSync()[0];
          tf.dispose([loss, ...Object.values(components)]);
          return { total, values };
        } finally {
          detector.model.dispose();
        }
      };
      const own = lossWith();
      const reweighted = lossWith(kind.clsLossCoef! + 2);
      expect(reweighted.values).toEqual(own.values);
      const ce = Object.entries(own.values)
        .filter(([k]) => k.startsWith('loss_ce'))
        .reduce((s, [, v]) => s + v, 0);
      expect(ce).toBeGreaterThan(0);
      expect(reweighted.total - own.total).toBeCloseTo(2 * ce, 4);
    },
  );
});
