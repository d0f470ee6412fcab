"""torchvision's deform_conv2d and torch's conv2d on the benchmark case, timed like @deformjs/core's bench:
warm-up runs, then the median of timed runs. Prints one JSON line of milliseconds.

Usage: reference.py <warmup> <runs>
"""
import json
import sys
import time

import torch
from torchvision.ops import deform_conv2d

torch.set_num_threads(2)
torch.manual_seed(0)
warmup, runs = int(sys.argv[1]), int(sys.argv[2])
N, C, H, W, O, k = 1, 256, 64, 64, 256, 3

x = torch.rand(N, C, H, W) * 2 - 1
offset = torch.rand(N, 2 * k * k, H, W) * 4 - 2
mask = torch.sigmoid(torch.randn(N, k * k, H, W))
weight = (torch.rand(O, C, k, k) * 2 - 1) * 0.02
bias = torch.zeros(O)


def median_ms(fn):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return times[len(times) // 2]


def dcn_forward():
    with torch.no_grad():
        deform_conv2d(x, offset, weight, bias, padding=1, mask=mask)


def dcn_forward_backward():
    leaves = [t.detach().requires_grad_() for t in (x, offset, mask, weight, bias)]
    out = deform_conv2d(leaves[0], leaves[1], leaves[3], leaves[4], padding=1, mask=leaves[2])
    torch.autograd.grad(out.sum(), leaves)


def conv_forward():
    with torch.no_grad():
        torch.nn.functional.conv2d(x, weight, bias, padding=1)


def conv_forward_backward():
    leaves = [t.detach().requires_grad_() for t in (x, weight, bias)]
    out = torch.nn.functional.conv2d(leaves[0], leaves[1], leaves[2], padding=1)
    torch.autograd.grad(out.sum(), leaves)


print(json.dumps({
    'torch': torch.__version__,
    'dcnForward': median_ms(dcn_forward),
    'dcnForwardBackward': median_ms(dcn_forward_backward),
    'convForward': median_ms(conv_forward),
    'convForwardBackward': median_ms(conv_forward_backward),
}))
