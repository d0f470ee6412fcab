"""Writes test/fixtures/coco_*.json: seeded random COCO ground truth and detections with the numbers that
pycocotools' COCOeval('bbox') gives for them.

pycocotools is not installable here, and its only compiled part COCOeval needs is the box IoU. So this
script takes the path of a folder holding a `pycocotools` package made of the upstream cocoeval.py, a
coco.py with COCO's createIndex/getAnnIds/getImgIds/getCatIds/loadAnns/loadRes, and a mask.py whose
`iou(dt, gt, iscrowd)` does maskApi.c's bbIou arithmetic (union = detection area against crowd boxes):

    /usr/bin/python3 scripts/make_coco_fixtures.py /tmp/metrics-ref
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, sys.argv[1])
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures')


def make_case(seed, n_images, cat_ids, gt_per_image, fp_per_image, crowd_rate, tie_decimals, dup_rate):
    rng = np.random.RandomState(seed)
    image_ids = [int(x) for x in rng.choice(np.arange(1, 10 * n_images), n_images, replace=False)]
    images = [{'id': i, 'width': 640, 'height': 480} for i in image_ids]
    categories = [{'id': c, 'name': 'cat%d' % c} for c in cat_ids]
    # The last category gets no ground truth at all (detections only).
    gt_cats = cat_ids[:-1] if len(cat_ids) > 1 else cat_ids
    annotations, results = [], []
    ann_id = 1
    for img in image_ids:
        n_gt = rng.randint(0, gt_per_image + 1)
        for _ in range(n_gt):
            # Side lengths spread over small, medium and large.
            w = float(np.round(np.exp(rng.uniform(np.log(4), np.log(300))), 2))
            h = float(np.round(w * np.exp(rng.uniform(-0.7, 0.7)), 2))
            x = float(np.round(rng.uniform(0, 640 - min(w, 600)), 2))
            y = float(np.round(rng.uniform(0, 480 - min(h, 460)), 2))
            cat = int(rng.choice(gt_cats))
            crowd = int(rng.rand() < crowd_rate)
            # COCO's area is the mask area, a bit below the box area.
            area = float(np.round(w * h * rng.uniform(0.5, 1.0), 3))
            annotations.append({'id': ann_id, 'image_id': img, 'category_id': cat, 'bbox': [x, y, w, h],
                                'area': area, 'iscrowd': crowd})
            ann_id += 1
            # Detections near the ground truth, sometimes several (duplicates, or many inside a crowd box).
            n_det = 1 + (rng.rand() < dup_rate) + (3 if crowd else 0)
            for _ in range(n_det):
                if rng.rand() < 0.15:
                    continue
                jitter = rng.normal(0, 0.12, 4) * [w, h, w, h]
                dw = max(0.5, w + jitter[2])
                dh = max(0.5, h + jitter[3])
                if crowd:
                    dw, dh = dw * 0.3, dh * 0.3
                det_cat = cat if rng.rand() > 0.05 else int(rng.choice(cat_ids))
                results.append({'image_id': img, 'category_id': det_cat,
                                'bbox': [float(np.round(x + jitter[0], 2)), float(np.round(y + jitter[1], 2)),
                                         float(np.round(dw, 2)), float(np.round(dh, 2))],
                                'score': float(np.round(rng.uniform(0.05, 1.0), tie_decimals))})
        for _ in range(rng.randint(0, fp_per_image + 1)):
            w = float(np.round(np.exp(rng.uniform(np.log(4), np.log(300))), 2))
            h = float(np.round(w * np.exp(rng.uniform(-0.7, 0.7)), 2))
            results.append({'image_id': img, 'category_id': int(rng.choice(cat_ids)),
                            'bbox': [float(np.round(rng.uniform(0, 600), 2)), float(np.round(rng.uniform(0, 440), 2)), w, h],
                            'score': float(np.round(rng.uniform(0.0, 0.9), tie_decimals))})
    return {'images': images, 'annotations': annotations, 'categories': categories}, results


def evaluate(gt, results):
    coco_gt = COCO(json.loads(json.dumps(gt)))
    coco_dt = coco_gt.loadRes(json.loads(json.dumps(results)))
    ev = COCOeval(coco_gt, coco_dt, 'bbox')
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    precision = ev.eval['precision']
    recall = ev.eval['recall']
    return {
        'stats': [float(s) for s in ev.stats],
        'counts': [int(c) for c in ev.eval['counts']],
        'iouThrs': [float(t) for t in ev.params.iouThrs],
        # Full recall; precision at area 'all', maxDets 100 in full and, for every setting, its mean over R.
        'recall': recall.ravel().tolist(),
        'precisionAllArea100': precision[:, :, :, 0, -1].ravel().tolist(),
        'precisionMeanOverR': precision.mean(axis=1).ravel().tolist(),
        'scoresAllArea100': ev.eval['scores'][:, :, :, 0, -1].ravel().tolist(),
    }


CASES = {
    # Several categories, crowd boxes, distinct scores.
    'basic': dict(seed=1, n_images=24, cat_ids=[1, 3, 7, 12], gt_per_image=6, fp_per_image=4, crowd_rate=0.1,
                  tie_decimals=6, dup_rate=0.3),
    # Scores on a coarse grid: many ties within and across images.
    'ties': dict(seed=2, n_images=30, cat_ids=[2, 5, 9], gt_per_image=5, fp_per_image=5, crowd_rate=0.15,
                 tie_decimals=1, dup_rate=0.4),
    # Crowded images: more than 10 (and some more than 100) detections per image and category.
    'crowded': dict(seed=3, n_images=4, cat_ids=[4, 8], gt_per_image=140, fp_per_image=150, crowd_rate=0.05,
                    tie_decimals=3, dup_rate=0.5),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, args in CASES.items():
        gt, results = make_case(**args)
        expected = evaluate(gt, results)
        path = os.path.join(OUT, 'coco_%s.json' % name)
        with open(path, 'w') as f:
            json.dump({'case': name, 'groundTruth': gt, 'results': results, 'expected': expected}, f)
        print(path, os.path.getsize(path), 'bytes', len(gt['annotations']), 'gt', len(results), 'dets',
              ['%.4f' % s for s in expected['stats']])


if __name__ == '__main__':
    main()
