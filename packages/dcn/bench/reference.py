"""torchvision's deform_conv2d and torch's conv2d on the benchmark case, timed like @deformjs/core's bench:
warm-up runs, then the median of timed runs, in wall-clock and in process CPU time (all threads). Prints one
JSON line of milliseconds.

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
    """(median wall ms, median CPU ms) over the timed runs."""
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    wall.sort()
    cpu.sort()
    return wall[len(wall) // 2], cpu[len(cpu) // 2]


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


results = {'torch': torch.__version__}
for name, fn in [('dcnForward', dcn_forward), ('dcnForwardBackward', dcn_forward_backward),
                 ('convForward', conv_forward), ('convForwardBackward', conv_forward_backward)]:
    results[name], results[name + 'Cpu'] = median_ms(fn)
print(json.dumps(results))
