"""Makes test/fixtures/resize.json: F.interpolate(mode='bilinear') in float64, align_corners False and True,
outputs and input gradients of sum(out * g), NHWC. Run with /usr/bin/python3 from the package folder."""
import json
import os

import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'resize.json')

# (n, c, h, w) -> (H, W): up, down, mixed, non-square, and size-1 axes on either side.
CASES = [
    ((1, 2, 4, 4), (7, 7)),
    ((2, 3, 3, 5), (7, 4)),
    ((1, 2, 7, 6), (3, 4)),
    ((1, 3, 1, 1), (3, 5)),
    ((2, 1, 5, 1), (2, 3)),
    ((1, 2, 2, 3), (1, 6)),
]


def nhwc(t):
    return [round(float(v), 12) for v in t.permute(0, 2, 3, 1).reshape(-1).tolist()]


def main():
    torch.manual_seed(0)
    cases = []
    for shape, size in CASES:
        for align_corners in (False, True):
            x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
            out = F.interpolate(x, size=size, mode='bilinear', align_corners=align_corners)
            g = torch.randn(out.shape, dtype=torch.float64)
            (dx,) = torch.autograd.grad((out * g).sum(), x)
            n, c, h, w = shape
            cases.append({
                'inShape': [n, h, w, c],
                'size': list(size),
                'alignCorners': align_corners,
                'x': nhwc(x.detach()),
                'out': nhwc(out.detach()),
                'g': nhwc(g),
                'dx': nhwc(dx),
            })
    with open(OUT, 'w') as f:
        json.dump({'torch': torch.__version__, 'cases': cases}, f, separators=(',', ':'))


if __name__ == '__main__':
    main()
