"""Writes test/fixtures/vid_fgfa.json: seeded random ImageNet-VID-style videos (tracks moving at different
speeds, several classes, jittered and false detections) with the AP per motion range and class that FGFA's
vid_eval_motion gives for them.

Takes the path of a copy of msracver/Flow-Guided-Feature-Aggregation lib/dataset/imagenet_vid_eval_motion.py
made runnable on Python 3 / numpy 1.24 (print(), pickle, explicit object arrays for ragged lists; nothing
else). The script writes the files that function reads (ImageNet XML annotations, the image-set list, the
detection list, the motion-IoU .mat) into a temporary folder:

    /usr/bin/python3 scripts/make_vid_fixtures.py /tmp/metrics-ref/imagenet_vid_eval_motion.py

The motion IoU written to the .mat is this script's own computation (FGFA ships precomputed values): the
mean IoU of each box with the same track's boxes within +-10 frames, 0 when there is none.
"""
import importlib.util
import json
import os
import sys
import tempfile

import numpy as np
import scipy.io as sio

spec = importlib.util.spec_from_file_location('vid_eval_motion', sys.argv[1])
fgfa = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fgfa)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'vid_fgfa.json')
CLASSES = ['__background__', 'n01', 'n02', 'n03']
MOTION_RANGES = [[0.0, 1.0], [0.0, 0.7], [0.7, 0.9], [0.9, 1.0]]
WINDOW = 10


def iou(a, b):
    iw = min(a[2], b[2]) - max(a[0], b[0]) + 1
    ih = min(a[3], b[3]) - max(a[1], b[1]) + 1
    if iw > 0 and ih > 0:
        ua = (a[2] - a[0] + 1.) * (a[3] - a[1] + 1.) + (b[2] - b[0] + 1.) * (b[3] - b[1] + 1.) - iw * ih
        return iw * ih / ua
    return 0.0


def make_videos(rng):
    frames = []
    for v in range(8):
        length = rng.randint(8, 26)
        tracks = []
        for t in range(rng.randint(1, 4)):
            w, h = rng.uniform(12, 220), rng.uniform(12, 220)
            speed = rng.choice([0.0, 0.0, 1.0, 3.0, 6.0, 15.0])
            tracks.append({'id': t, 'label': int(rng.randint(1, len(CLASSES))), 'x': rng.uniform(0, 300), 'y': rng.uniform(0, 200),
                           'w': w, 'h': h, 'vx': speed * rng.choice([-1, 1]), 'vy': speed * rng.uniform(-0.5, 0.5),
                           'start': rng.randint(0, 4), 'end': length - rng.randint(0, 4)})
        for f in range(length):
            objects = []
            for tr in tracks:
                if not (tr['start'] <= f < tr['end']) or rng.rand() < 0.05:
                    continue
                x1 = round(tr['x'] + tr['vx'] * f + rng.normal(0, 0.3))
                y1 = round(tr['y'] + tr['vy'] * f + rng.normal(0, 0.3))
                objects.append({'trackId': tr['id'], 'label': tr['label'],
                                'bbox': [float(x1), float(y1), float(x1 + round(tr['w'])), float(y1 + round(tr['h']))]})
            frames.append({'frameId': len(frames), 'videoId': 'v%d' % v, 'frameIndex': f, 'objects': objects})
    return frames


def motion_iou(frames):
    out = [[0.0] * len(f['objects']) for f in frames]
    tracks = {}
    for fi, f in enumerate(frames):
        for oi, o in enumerate(f['objects']):
            tracks.setdefault((f['videoId'], o['trackId']), []).append((f['frameIndex'], o['bbox'], fi, oi))
    for items in tracks.values():
        items.sort(key=lambda x: x[0])
        for i, (t, box, fi, oi) in enumerate(items):
            total, count = 0.0, 0
            for j, (t2, box2, _, _) in enumerate(items):
                if j != i and abs(t2 - t) <= WINDOW:
                    total += iou(box, box2)
                    count += 1
            out[fi][oi] = total / count if count else 0.0
    return out


def make_detections(rng, frames):
    dets = []
    for f in frames:
        for o in f['objects']:
            if rng.rand() < 0.15:
                continue
            x1, y1, x2, y2 = o['bbox']
            w, h = x2 - x1, y2 - y1
            jitter = rng.normal(0, 0.08, 4) * [w, h, w, h]
            label = o['label'] if rng.rand() > 0.1 else int(rng.randint(1, len(CLASSES)))
            box = [x1 + jitter[0], y1 + jitter[1], x2 + jitter[2], y2 + jitter[3]]
            box = [float(np.round(v, 2)) for v in box]
            if box[2] < box[0] or box[3] < box[1]:
                continue
            dets.append({'frameId': f['frameId'], 'label': label, 'bbox': box})
        for _ in range(rng.randint(0, 3)):
            x1, y1 = rng.uniform(0, 400), rng.uniform(0, 300)
            dets.append({'frameId': f['frameId'], 'label': int(rng.randint(1, len(CLASSES))),
                         'bbox': [float(np.round(x1, 2)), float(np.round(y1, 2)), float(np.round(x1 + rng.uniform(5, 120), 2)), float(np.round(y1 + rng.uniform(5, 120), 2))]})
    # Distinct scores: FGFA sorts with numpy's unstable quicksort, so ties would have no defined order.
    scores = rng.permutation(len(dets)) / float(len(dets)) + 1e-3
    for d, s in zip(dets, scores):
        d['score'] = float(np.round(s, 6))
    return dets


def run_fgfa(frames, dets, motion):
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, 'VID'))
        lines = []
        for f in frames:
            name = '%s_%06d' % (f['videoId'], f['frameIndex'])
            with open(os.path.join(tmp, 'VID', name + '.xml'), 'w') as x:
                x.write('<annotation>')
                for o in f['objects']:
                    x1, y1, x2, y2 = o['bbox']
                    x.write('<object><trackid>%d</trackid><name>%s</name><bndbox><xmin>%r</xmin><ymin>%r</ymin><xmax>%r</xmax><ymax>%r</ymax></bndbox></object>'
                            % (o['trackId'], CLASSES[o['label']], x1, y1, x2, y2))
                x.write('</annotation>')
            lines.append('%s %d' % (name, f['frameId']))
        imageset = os.path.join(tmp, 'val.txt')
        with open(imageset, 'w') as x:
            x.write('\n'.join(lines) + '\n')
        detfile = os.path.join(tmp, 'det.txt')
        with open(detfile, 'w') as x:
            for d in dets:
                x.write('%d %d %r %r %r %r %r\n' % (d['frameId'], d['label'], d['score'], *d['bbox']))
        cells = np.empty((len(frames), 1), dtype=object)
        for i, m in enumerate(motion):
            cells[i, 0] = np.array(m, dtype=np.float64).reshape(-1, 1)
        matfile = os.path.join(tmp, 'motion_iou.mat')
        sio.savemat(matfile, {'motion_iou': cells})
        ap = fgfa.vid_eval_motion(False, detfile, os.path.join(tmp, '{}.xml'), imageset, CLASSES,
                                  os.path.join(tmp, 'cache.pkl'), matfile, MOTION_RANGES, [[0, 1e5 * 1e5]])
    return ap[:, 0, :]


def main():
    rng = np.random.RandomState(7)
    frames = make_videos(rng)
    dets = make_detections(rng, frames)
    motion = motion_iou(frames)
    ap = run_fgfa(frames, dets, motion)
    # FGFA's labels are 1-based (0 is the background); ours are 0-based.
    for f in frames:
        for o in f['objects']:
            o['label'] -= 1
    for d in dets:
        d['label'] -= 1
    mean = [float(np.mean([a for a in row if a >= 0])) if any(a >= 0 for a in row) else -1.0 for row in ap]
    with open(OUT, 'w') as f:
        json.dump({'numClasses': len(CLASSES) - 1, 'motionRanges': MOTION_RANGES, 'frames': frames, 'detections': dets,
                   'expected': {'motionIou': motion, 'ap': ap.tolist(), 'mAP': mean}}, f)
    print(OUT, os.path.getsize(OUT), 'bytes', len(frames), 'frames', len(dets), 'detections')
    print(np.round(ap, 4), mean)


if __name__ == '__main__':
    main()
