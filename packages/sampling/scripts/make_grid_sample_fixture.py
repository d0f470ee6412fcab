"""Golden values for @deformjs/sampling's gridSample: PyTorch's F.grid_sample in float64.

Run with Debian's interpreter (torch 1.13):  /usr/bin/python3 packages/sampling/scripts/make_grid_sample_fixture.py
Writes packages/sampling/test/fixtures/grid_sample.json. Tests read it and never need Python.

Every mode (bilinear, nearest) x padding_mode (zeros, border, reflection) x align_corners (True, False), on an
input of 2 x 3 channels x 4 x 5 and a 3 x 4 grid reaching past [-1, 1] on every side, plus a 1-pixel-wide input.
Stored NHWC (our layout): input [N, H, W, C], grid [N, Ho, Wo, 2], output and gradients likewise; the gradients
are those of sum(output * dy) for a random dy.
"""
import json
import os

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'grid_sample.json')


def flat(t):
    return [round(v, 12) for v in t.detach().reshape(-1).tolist()]


def case(seed, N, C, H, W, Ho, Wo, mode, padding_mode, align_corners):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, C, H, W, generator=g).requires_grad_()
    # Uniform in [-1.6, 1.6]: points inside, in the border band and far outside (reflected more than once).
    grid = (torch.rand(N, Ho, Wo, 2, generator=g) * 3.2 - 1.6).requires_grad_()
    y = F.grid_sample(x, grid, mode=mode, padding_mode=padding_mode, align_corners=align_corners)
    dy = torch.randn(y.shape, generator=g)
    gx, ggrid = torch.autograd.grad((y * dy).sum(), [x, grid])
    nhwc = lambda t: t.permute(0, 2, 3, 1)
    return {
        'mode': mode,
        'paddingMode': padding_mode,
        'alignCorners': align_corners,
        'inputShape': [N, H, W, C],
        'gridShape': [N, Ho, Wo, 2],
        'input': flat(nhwc(x)),
        'grid': flat(grid),
        'output': flat(nhwc(y)),
        'dy': flat(nhwc(dy)),
        'gradInput': flat(nhwc(gx)),
        'gradGrid': flat(ggrid),
    }


cases = []
seed = 0
for mode in ['bilinear', 'nearest']:
    for padding_mode in ['zeros', 'border', 'reflection']:
        for align_corners in [False, True]:
            cases.append(case(seed, 2, 3, 4, 5, 3, 4, mode, padding_mode, align_corners))
            seed += 1
# One pixel wide: reflection's span is 0 with align_corners=True, and border clamps everything to the column.
for padding_mode in ['zeros', 'border', 'reflection']:
    cases.append(case(seed, 1, 2, 3, 1, 2, 3, 'bilinear', padding_mode, True))
    seed += 1

os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, 'w') as f:
    json.dump({'torch': torch.__version__, 'cases': cases}, f)
print(f'wrote {len(cases)} cases to {OUT}')
