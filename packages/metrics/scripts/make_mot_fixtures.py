"""Writes test/fixtures/mot_motmetrics.json: seeded random tracking sequences (objects crossing, a tracker
that drops, swaps and re-identifies them, spurious hypotheses) with the CLEAR MOT counts py-motmetrics
accumulates for them.

Takes the path of a copy of py-motmetrics' MOTAccumulator.update (steps 1-4), iou_matrix and its scipy
assignment with add_expensive_edges (cheind/py-motmetrics motmetrics/mot.py, distances.py, lap.py):

    /usr/bin/python3 scripts/make_mot_fixtures.py /tmp/metrics-ref/motmetrics_clear.py
"""
import importlib.util
import json
import os
import sys

import numpy as np

spec = importlib.util.spec_from_file_location('motmetrics_clear', sys.argv[1])
mm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mm)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'mot_motmetrics.json')


def sequence(rng, n_frames, n_objects):
    objects = [{'x': rng.uniform(0, 300), 'y': rng.uniform(0, 200), 'vx': rng.normal(0, 4), 'vy': rng.normal(0, 2),
                'w': rng.uniform(20, 60), 'h': rng.uniform(40, 120)} for _ in range(n_objects)]
    # The tracker's identity for each object, changed now and then (switches, re-identification).
    identity = {o: 100 + o for o in range(n_objects)}
    next_id = 200
    frames = []
    for t in range(n_frames):
        gts, hyps = [], []
        for o, ob in enumerate(objects):
            if rng.rand() < 0.1:
                continue
            box = [round(ob['x'] + ob['vx'] * t, 1), round(ob['y'] + ob['vy'] * t, 1), round(ob['w'], 1), round(ob['h'], 1)]
            gts.append({'id': o, 'bbox': box})
            if rng.rand() < 0.15:
                continue
            if rng.rand() < 0.05:
                identity[o] = next_id
                next_id += 1
            if rng.rand() < 0.03 and n_objects > 1:
                other = rng.randint(n_objects)
                identity[o], identity[other] = identity[other], identity[o]
            jitter = rng.normal(0, 0.15, 4) * [box[2], box[3], box[2], box[3]]
            hyps.append({'id': identity[o], 'bbox': [round(box[0] + jitter[0], 2), round(box[1] + jitter[1], 2),
                                                     round(max(1, box[2] + jitter[2]), 2), round(max(1, box[3] + jitter[3]), 2)]})
        for _ in range(rng.poisson(0.7)):
            hyps.append({'id': next_id, 'bbox': [round(rng.uniform(0, 300), 2), round(rng.uniform(0, 200), 2), round(rng.uniform(10, 60), 2), round(rng.uniform(20, 120), 2)]})
            next_id += 1
        # A tracker may report one identity twice in a frame; keep the first.
        seen = set()
        hyps = [h for h in hyps if not (h['id'] in seen or seen.add(h['id']))]
        frames.append({'groundTruth': gts, 'hypotheses': hyps})
    return frames


def clear_mot(frames):
    acc = mm.MOTAccumulator()
    for t, f in enumerate(frames):
        oids = [g['id'] for g in f['groundTruth']]
        hids = [h['id'] for h in f['hypotheses']]
        dists = mm.iou_matrix([g['bbox'] for g in f['groundTruth']], [h['bbox'] for h in f['hypotheses']], max_iou=0.5)
        if dists.size == 0:
            dists = np.empty((len(oids), len(hids)))
        acc.update(oids, hids, dists, t)
    types = [e[0] for e in acc.events]
    matched = [e[3] for e in acc.events if e[0] in ('MATCH', 'SWITCH')]
    gt = sum(len(f['groundTruth']) for f in frames)
    fn, fp, sw = types.count('MISS'), types.count('FP'), types.count('SWITCH')
    return {'groundTruth': gt, 'matches': len(matched), 'falseNegatives': fn, 'falsePositives': fp, 'idSwitches': sw,
            'mota': 1 - (fn + fp + sw) / gt, 'motp': 1 - float(np.mean(matched))}


def main():
    rng = np.random.RandomState(3)
    cases = []
    for n_frames, n_objects in [(30, 3), (40, 6), (25, 10)]:
        frames = sequence(rng, n_frames, n_objects)
        cases.append({'frames': frames, 'expected': clear_mot(frames)})
    with open(OUT, 'w') as f:
        json.dump({'cases': cases}, f)
    print(OUT, os.path.getsize(OUT), 'bytes', [c['expected'] for c in cases])


if __name__ == '__main__':
    main()
