"""Writes test/fixtures/segmentation_autoseg.json: seeded random label maps (blobs, void bands, several
sizes) with the counts Auto Seg-Loss's evaluator accumulates for them: the confusion matrix, the trimap
(boundary) confusion matrix, and the per-class boundary-F1 counts n_fg, n_gt, match_fg, match_gt.

Takes the path of a copy of fundamentalvision/Auto-Seg-Loss mmseg/core/evaluation/utils.py (it calls
.cuda(), which is made a no-op here so it runs on the CPU):

    /usr/bin/python3 scripts/make_segmentation_fixtures.py /tmp/metrics-ref/autoseg_utils.py
"""
import importlib.util
import json
import os
import sys

import numpy as np
import torch

torch.Tensor.cuda = lambda self, *args, **kwargs: self
spec = importlib.util.spec_from_file_location('autoseg_utils', sys.argv[1])
utils = importlib.util.module_from_spec(spec)
spec.loader.exec_module(utils)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'segmentation_autoseg.json')
NUM_CLASSES = 5


def blob_map(rng, h, w, shift):
    seg = np.zeros((h, w), dtype=np.int64)
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(rng.randint(2, 6)):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(2, max(h, w) / 2)
        seg[(yy - cy) ** 2 + (xx - cx - shift) ** 2 < r * r] = rng.randint(0, NUM_CLASSES)
    return seg


def main():
    rng = np.random.RandomState(0)
    images = []
    totals = None
    for h, w in [(17, 23), (32, 32), (9, 40), (25, 14), (3, 5)]:
        gt = blob_map(rng, h, w, 0)
        # Void bands: a ring of 255 around some region boundaries, plus a few scattered void pixels.
        edge = utils.compute_edge(utils.map_to_one_hot(torch.from_numpy(gt)[None], NUM_CLASSES)).amax(dim=1)[0].numpy() > 0
        gt[edge & (rng.rand(h, w) < 0.5)] = 255
        gt[rng.rand(h, w) < 0.02] = 255
        pred = blob_map(np.random.RandomState(rng.randint(1 << 30)), h, w, 0)
        noise = rng.rand(h, w) < 0.1
        pred[noise] = rng.randint(0, NUM_CLASSES, size=noise.sum())
        target = torch.from_numpy(gt)[None]
        output = torch.from_numpy(pred)[None]
        counts = {}
        for radius, tol in [(5, 5), (1, 0), (2, 3)]:
            mask = (target >= 0) & (target < NUM_CLASSES)
            label = NUM_CLASSES * target[mask].long() + output[mask]
            confusion = torch.bincount(label, minlength=NUM_CLASSES ** 2)
            band = utils.boundary_confusion_matrix(output, target, NUM_CLASSES, radius)
            band_nobg = utils.boundary_confusion_matrix(output, target, NUM_CLASSES, radius, drop_bg=True)
            _, n_fg, n_gt, match_fg, match_gt = utils.bfscore_val(output, target, NUM_CLASSES, tol)
            counts['r%d_t%d' % (radius, tol)] = {
                'radius': radius, 'tolerance': tol,
                'confusion': confusion.view(-1).tolist(),
                'bandConfusion': band.view(-1).tolist(),
                'bandConfusionDropBackground': band_nobg.view(-1).tolist(),
                'nFg': n_fg.long().tolist(), 'nGt': n_gt.long().tolist(),
                'matchFg': match_fg.long().tolist(), 'matchGt': match_gt.long().tolist(),
            }
        images.append({'height': h, 'width': w, 'groundTruth': gt.reshape(-1).tolist(),
                       'prediction': pred.reshape(-1).tolist(), 'counts': counts})
    with open(OUT, 'w') as f:
        json.dump({'numClasses': NUM_CLASSES, 'images': images}, f)
    print(OUT, os.path.getsize(OUT), 'bytes')


if __name__ == '__main__':
    main()
