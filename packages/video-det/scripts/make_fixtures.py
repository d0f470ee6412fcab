"""Golden values for warp(features, flow): PyTorch grid_sample in float64, forward and gradients.

Run with /usr/bin/python3 (Debian's python3-torch). Writes test/fixtures/warp.json.

warp samples features at p + flow(p) in pixels (centres at integers, zero padding). In PyTorch (NCHW) that is
grid_sample(x, grid, mode='bilinear', padding_mode='zeros', align_corners=False) with the grid normalised as
g = (2 * (p + flow) + 1) / size - 1, which maps pixel x to (x + 0.5) / W in [0, 1].
"""
import json
import os

import torch

torch.manual_seed(0)
N, C, H, W = 2, 3, 5, 7
x = torch.randn(N, C, H, W, dtype=torch.float64, requires_grad=True)
# Flows up to +-4 px: some points land outside the map (partly or wholly), as at a border.
flow = ((torch.rand(N, 2, H, W, dtype=torch.float64) * 2 - 1) * 4).requires_grad_(True)

ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float64), torch.arange(W, dtype=torch.float64), indexing='ij')
px = xs + flow[:, 0]
py = ys + flow[:, 1]
grid = torch.stack([(2 * px + 1) / W - 1, (2 * py + 1) / H - 1], dim=-1)
out = torch.nn.functional.grid_sample(x, grid, mode='bilinear', padding_mode='zeros', align_corners=False)
upstream = torch.randn_like(out)
(out * upstream).sum().backward()


def nhwc(t):
    return [round(v, 12) for v in t.detach().permute(0, 2, 3, 1).reshape(-1).tolist()]


fixture = {
    'shape': [N, H, W, C],
    'features': nhwc(x),
    'flow': nhwc(flow),
    'upstream': nhwc(upstream),
    'out': nhwc(out),
    'grad_features': nhwc(x.grad),
    'grad_flow': nhwc(flow.grad),
}
path = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'warp.json')
with open(path, 'w') as f:
    json.dump(fixture, f)
print(f'wrote {path} ({os.path.getsize(path)} bytes)')
