"""Times pycocotools' COCOeval (bbox) on the benchmark's data: argv[1] the JSON written by bench/index.ts,
argv[2] a folder holding a `pycocotools` package (see scripts/make_coco_fixtures.py). Prints one JSON line."""
import contextlib
import io
import json
import sys
import time

sys.path.insert(0, sys.argv[2])
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402

with open(sys.argv[1]) as f:
    data = json.load(f)
gt = COCO(data['groundTruth'])
dt = gt.loadRes(data['results'])
start = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()):
    ev = COCOeval(gt, dt, 'bbox')
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
ms = (time.perf_counter() - start) * 1000
print(json.dumps({'ms': ms, 'stats': [float(s) for s in ev.stats]}))
