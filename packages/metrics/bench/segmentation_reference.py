"""Times Auto Seg-Loss's evaluator (confusion matrix, trimap confusion matrix radius 5, boundary-F1 counts
tolerance 5) with PyTorch on the CPU over the benchmark's label maps. argv: the raw uint8 maps written by
bench/index.ts (prediction, ground truth, per image), the path of a copy of Auto Seg-Loss's
mmseg/core/evaluation/utils.py, the number of images, H, W, the number of classes. Prints one JSON line."""
import importlib.util
import json
import sys
import time

import numpy as np
import torch

torch.set_num_threads(2)
torch.Tensor.cuda = lambda self, *args, **kwargs: self
spec = importlib.util.spec_from_file_location('autoseg_utils', sys.argv[2])
utils = importlib.util.module_from_spec(spec)
spec.loader.exec_module(utils)

n, h, w, k = (int(v) for v in sys.argv[3:7])
maps = torch.from_numpy(np.fromfile(sys.argv[1], dtype=np.uint8).astype(np.int64).reshape(n, 2, h, w))


def evaluate(n):
    confusion = torch.zeros(k * k, dtype=torch.long)
    band = torch.zeros((k, k), dtype=torch.long)
    totals = [torch.zeros(k) for _ in range(4)]
    for i in range(n):
        output, target = maps[i, 0][None], maps[i, 1][None]
        mask = (target >= 0) & (target < k)
        confusion += torch.bincount(k * target[mask] + output[mask], minlength=k * k)
        band += utils.boundary_confusion_matrix(output, target, k, 5)
        _, n_fg, n_gt, match_fg, match_gt = utils.bfscore_val(output, target, k, 5)
        for total, v in zip(totals, (n_fg, n_gt, match_fg, match_gt)):
            total += v
    return confusion, band, totals


# One image to warm up, then one timed pass: the reference is slow and the benchmark lock is shared.
evaluate(1)
start = time.perf_counter()
confusion, band, (n_fg, n_gt, match_fg, match_gt) = evaluate(n)
ms = (time.perf_counter() - start) * 1000
print(json.dumps({'ms': ms, 'counts': {
    'confusion': confusion.tolist(), 'bandConfusion': band.view(-1).tolist(),
    'nFg': n_fg.tolist(), 'nGt': n_gt.tolist(), 'matchFg': match_fg.tolist(), 'matchGt': match_gt.tolist()}}))
