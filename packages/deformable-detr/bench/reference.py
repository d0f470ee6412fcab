"""PyTorch side of the benchmark: the fixture script's Deformable DETR (official structure, pure-PyTorch
grid_sample attention) in float32 on 2 threads, small configuration, 1x3x320x320: inference latency, and a
training step (forward, a loss over every output, backward, AdamW) as an upper bound of the matcher-free work.
Prints one JSON line."""
import json
import os
import sys
import time
import types

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
# The fixture script computes in float64 for exact fixtures; the benchmark runs the same code in float32.
source = open(os.path.join(HERE, '..', 'scripts', 'make_parity_fixtures.py')).read()
source = source.replace('torch.float64', 'torch.float32').replace('.double()', '.float()')
fixtures = types.ModuleType('fixtures')
fixtures.__file__ = os.path.join(HERE, '..', 'scripts', 'make_parity_fixtures.py')
exec(compile(source, 'make_parity_fixtures.py', 'exec'), fixtures.__dict__)
torch.set_num_threads(2)

size = int(sys.argv[1]) if len(sys.argv) > 1 else 320
cfg = {'backbone_width': 16, 'hidden_dim': 64, 'nheads': 4, 'enc_layers': 3, 'dec_layers': 3, 'dim_feedforward': 128,
       'num_feature_levels': 4, 'enc_n_points': 4, 'dec_n_points': 4, 'num_queries': 30, 'num_classes': 5,
       'with_box_refine': False, 'two_stage': False}
model = fixtures.DeformableDETR(cfg).float()
images = torch.randn(1, 3, size, size)
mask = torch.zeros(1, size, size, dtype=torch.bool)


def median(fn, warmup=2, runs=7):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return sorted(times)[len(times) // 2]


model.eval()
with torch.no_grad():
    inference = median(lambda: model(images, mask))
model.train()
opt = torch.optim.AdamW(model.parameters(), lr=1e-4)


def step():
    out = model(images, mask)
    loss = out['pred_logits'].sigmoid().sum() + out['pred_boxes'].sum() + sum(t.sum() for t in out['aux_logits'])
    opt.zero_grad()
    loss.backward()
    opt.step()


train = median(step)
print(json.dumps({'inference_ms': inference, 'train_step_ms': train}))
