"""PyTorch reference timings for the core training-kernel benchmark: conv2d on 1x256x64x64 (NCHW), 256 3x3
filters, padding 1; depthwise conv2d on 8x128x56x56, 3x3, padding 1; float32, 2 threads. Prints one JSON line
of medians in milliseconds."""
import json
import time

import torch

torch.set_num_threads(2)
torch.manual_seed(0)


def median_ms(fn, warmup=2, runs=7):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return times[len(times) // 2]


x = torch.randn(1, 256, 64, 64)
w = torch.randn(256, 256, 3, 3) * 0.05
dy = torch.randn(1, 256, 64, 64)
args = dict(bias_sizes=None, stride=[1, 1], padding=[1, 1], dilation=[1, 1], transposed=False, output_padding=[0, 0], groups=1)


def backward(mask):
    return torch.ops.aten.convolution_backward(dy, x, w, args['bias_sizes'], args['stride'], args['padding'], args['dilation'],
                                               args['transposed'], args['output_padding'], args['groups'], mask)


def forward_backward():
    xg = x.clone().requires_grad_(True)
    wg = w.clone().requires_grad_(True)
    y = torch.nn.functional.conv2d(xg, wg, padding=1)
    y.backward(torch.ones_like(y))


with torch.no_grad():
    forward = median_ms(lambda: torch.nn.functional.conv2d(x, w, padding=1))
    input_grad = median_ms(lambda: backward([True, False, False]))
    filter_grad = median_ms(lambda: backward([False, True, False]))
both = median_ms(forward_backward)

dx_in = torch.randn(8, 128, 56, 56)
dw_w = torch.randn(128, 1, 3, 3) * 0.1


def depthwise_forward_backward():
    xg = dx_in.clone().requires_grad_(True)
    wg = dw_w.clone().requires_grad_(True)
    y = torch.nn.functional.conv2d(xg, wg, padding=1, groups=128)
    y.backward(torch.ones_like(y))


with torch.no_grad():
    depthwise_forward = median_ms(lambda: torch.nn.functional.conv2d(dx_in, dw_w, padding=1, groups=128))
depthwise_both = median_ms(depthwise_forward_backward)
print(json.dumps({'torch': torch.__version__, 'forward': forward, 'forwardBackward': both, 'inputGrad': input_grad, 'filterGrad': filter_grad,
                  'depthwiseForward': depthwise_forward, 'depthwiseForwardBackward': depthwise_both}))
