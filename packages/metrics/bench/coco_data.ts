import { Rng } from '@deformjs/core';
import type { CocoAnnotation, CocoDataset, CocoDetection } from '../src';

export const IMAGES = 5000;
const CATEGORIES = 80;
export const DETS_PER_IMAGE = 100;

/** Seeded synthetic COCO data: IMAGES images, 0..14 objects each, exactly DETS_PER_IMAGE detections each. */
export function syntheticCoco(seed: number): { gt: CocoDataset; results: CocoDetection[] } {
  const rng = new Rng(seed);
  const images = Array.from({ length: IMAGES }, (_, i) => ({ id: i + 1, width: 640, height: 480 }));
  const categories = Array.from({ length: CATEGORIES }, (_, k) => ({ id: k + 1, name: `class${k + 1}` }));
  const annotations: CocoAnnotation[] = [];
  const results: CocoDetection[] = [];
  const round = (x: number) => Math.round(x * 100) / 100;
  for (const image of images) {
    const objects: CocoAnnotation[] = [];
    const count = rng.int(15);
    for (let j = 0; j < count; j++) {
      const w = round(Math.exp(rng.uniform(Math.log(6), Math.log(400))));
      const h = round(w * Math.exp(rng.uniform(-0.6, 0.6)));
      const ann: CocoAnnotation = {
        id: annotations.length + 1,
        image_id: image.id,
        category_id: 1 + rng.int(CATEGORIES),
        bbox: [round(rng.uniform(0, 600)), round(rng.uniform(0, 440)), w, h],
        area: round(w * h * rng.uniform(0.5, 1)),
        iscrowd: rng.next() < 0.01 ? 1 : 0,
      };
      annotations.push(ann);
      objects.push(ann);
    }
    const dets: CocoDetection[] = [];
    for (const ann of objects) {
      const copies = 1 + rng.int(3);
      for (let c = 0; c < copies && dets.length < DETS_PER_IMAGE; c++) {
        const [x, y, w, h] = ann.bbox;
        dets.push({
          image_id: image.id,
          category_id: rng.next() < 0.9 ? ann.category_id : 1 + rng.int(CATEGORIES),
          bbox: [
            round(x + rng.normal(0, 0.1 * w)),
            round(y + rng.normal(0, 0.1 * h)),
            round(Math.max(1, w * rng.uniform(0.8, 1.2))),
            round(Math.max(1, h * rng.uniform(0.8, 1.2))),
          ],
          score: round(rng.uniform(0.2, 1) * 1e4) / 1e4,
        });
      }
    }
    while (dets.length < DETS_PER_IMAGE) {
      dets.push({
        image_id: image.id,
        category_id: 1 + rng.int(CATEGORIES),
        bbox: [
          round(rng.uniform(0, 600)),
          round(rng.uniform(0, 440)),
          round(rng.uniform(4, 200)),
          round(rng.uniform(4, 200)),
        ],
        score: round(rng.uniform(0, 0.8) * 1e4) / 1e4,
      });
    }
    results.push(...dets);
  }
  return { gt: { images, categories, annotations }, results };
}
