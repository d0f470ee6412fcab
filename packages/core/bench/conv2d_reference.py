"""The PyTorch side of bench/index.ts (core's interleavedBench sets the threads): conv2d on 1x256x64x64 (NCHW), 256 3x3
filters, padding 1, and depthwise conv2d on 8x128x56x56, 3x3, padding 1; float32. `cases()` returns one function
per case, named as on our side."""
import torch


def cases():
    torch.manual_seed(0)
    x = torch.randn(1, 256, 64, 64)
    w = torch.randn(256, 256, 3, 3) * 0.05
    dy = torch.randn(1, 256, 64, 64)

    def backward(mask):
        with torch.no_grad():
            torch.ops.aten.convolution_backward(dy, x, w, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1, mask)

    def forward():
        with torch.no_grad():
            torch.nn.functional.conv2d(x, w, padding=1)

    def forward_backward():
        xg = x.clone().requires_grad_(True)
        wg = w.clone().requires_grad_(True)
        y = torch.nn.functional.conv2d(xg, wg, padding=1)
        y.backward(torch.ones_like(y))

    dx = torch.randn(8, 128, 56, 56)
    dw = torch.randn(128, 1, 3, 3) * 0.1

    def depthwise_forward():
        with torch.no_grad():
            torch.nn.functional.conv2d(dx, dw, padding=1, groups=128)

    def depthwise_forward_backward():
        xg = dx.clone().requires_grad_(True)
        wg = dw.clone().requires_grad_(True)
        y = torch.nn.functional.conv2d(xg, wg, padding=1, groups=128)
        y.backward(torch.ones_like(y))

    return {
        "conv2d forward": forward,
        "conv2d forward + backward (dx and dW)": forward_backward,
        "conv2d input gradient": lambda: backward([True, False, False]),
        "conv2d filter gradient": lambda: backward([False, True, False]),
        "depthwise forward": depthwise_forward,
        "depthwise forward + backward": depthwise_forward_backward,
    }
