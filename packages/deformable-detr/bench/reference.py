"""PyTorch side of the benchmark, for @deformjs/core's interleavedBench (which sets the thread count): the
fixture script's Deformable DETR (official structure, pure-PyTorch grid_sample attention) in float32, small
configuration, one image: inference, and a training step (forward, a loss over every output, backward, AdamW)
without a matcher, so a lower bound of the work of ours."""
import os
import types

import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def cases(size='320'):
    size = int(size)
    # The fixture script computes in float64 for exact fixtures; the benchmark runs the same code in float32.
    path = os.path.join(HERE, '..', 'scripts', 'make_parity_fixtures.py')
    source = open(path).read().replace('torch.float64', 'torch.float32').replace('.double()', '.float()')
    fixtures = types.ModuleType('fixtures')
    fixtures.__file__ = path
    exec(compile(source, 'make_parity_fixtures.py', 'exec'), fixtures.__dict__)
    cfg = {'backbone_width': 16, 'hidden_dim': 64, 'nheads': 4, 'enc_layers': 3, 'dec_layers': 3,
           'dim_feedforward': 128, 'num_feature_levels': 4, 'enc_n_points': 4, 'dec_n_points': 4, 'num_queries': 30,
           'num_classes': 5, 'with_box_refine': False, 'two_stage': False}
    model = fixtures.DeformableDETR(cfg).float()
    images = torch.randn(1, 3, size, size)
    mask = torch.zeros(1, size, size, dtype=torch.bool)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-4)

    def train_step():
        model.train()
        out = model(images, mask)
        loss = out['pred_logits'].sigmoid().sum() + out['pred_boxes'].sum() + sum(t.sum() for t in out['aux_logits'])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def inference():
        model.eval()
        with torch.no_grad():
            model(images, mask)

    return {'Deformable DETR small, train step': train_step, 'Deformable DETR small, inference': inference}
