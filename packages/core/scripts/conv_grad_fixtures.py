"""Golden conv2d / depthwise conv2d gradients from PyTorch (float64), for packages/core/test/training-kernels.test.ts.

Writes test/fixtures/conv-grads.json. Tensors are stored flattened in deformjs's layouts: activations NHWC,
conv2d filters HWIO, depthwise filters [kh, kw, C, multiplier] (torch's output channel c * multiplier + m).
Run with Debian's interpreter: /usr/bin/python3 scripts/conv_grad_fixtures.py
"""
import json
import os

import torch

torch.manual_seed(0)

CASES = [
    # name, x NCHW shape, out channels, kernel (kh, kw), stride, padding (symmetric), dilation, depthwise multiplier
    ('conv stride 2 pad 1', (2, 3, 7, 6), 5, (3, 2), (2, 2), (1, 1), (1, 1), None),
    ('conv stride 1 dilation 2 pad (2, 1)', (1, 4, 6, 7), 3, (3, 2), (1, 1), (2, 1), (2, 2), None),
    ('depthwise multiplier 2 stride 2 pad 1', (2, 3, 7, 6), None, (3, 3), (2, 2), (1, 1), (1, 1), 2),
    ('depthwise multiplier 1 stride 1 dilation (2, 3) pad (2, 3)', (1, 4, 8, 9), None, (3, 3), (1, 1), (2, 3), (2, 3), 1),
]


def nhwc(t):
    return t.permute(0, 2, 3, 1).contiguous().reshape(-1).tolist()


def main():
    out = []
    for name, x_shape, out_channels, kernel, stride, padding, dilation, multiplier in CASES:
        n, c, h, w = x_shape
        x = torch.randn(x_shape, dtype=torch.float64, requires_grad=True)
        if multiplier is None:
            weight = torch.randn((out_channels, c) + kernel, dtype=torch.float64, requires_grad=True)
            groups = 1
        else:
            weight = torch.randn((c * multiplier, 1) + kernel, dtype=torch.float64, requires_grad=True)
            groups = c
        y = torch.nn.functional.conv2d(x, weight, stride=stride, padding=padding, dilation=dilation, groups=groups)
        dy = torch.randn_like(y)
        y.backward(dy)
        if multiplier is None:
            to_ours = lambda t: t.permute(2, 3, 1, 0).contiguous()  # OIHW -> HWIO
            filter_shape = [kernel[0], kernel[1], c, out_channels]
        else:
            # (C * M, 1, kh, kw) -> (kh, kw, C, M)
            to_ours = lambda t: t.reshape(c, multiplier, kernel[0], kernel[1]).permute(2, 3, 0, 1).contiguous()
            filter_shape = [kernel[0], kernel[1], c, multiplier]
        out.append({
            'name': name,
            'depthwise': multiplier is not None,
            'xShape': [n, h, w, c],
            'filterShape': filter_shape,
            'dyShape': [y.shape[0], y.shape[2], y.shape[3], y.shape[1]],
            'strides': list(stride),
            'dilations': list(dilation),
            # tfjs explicit padding in NHWC order
            'pad': [[0, 0], [padding[0], padding[0]], [padding[1], padding[1]], [0, 0]],
            'x': nhwc(x.detach()),
            'filter': to_ours(weight.detach()).reshape(-1).tolist(),
            'dy': nhwc(dy),
            'dx': nhwc(x.grad),
            'dw': to_ours(weight.grad).reshape(-1).tolist(),
        })
    path = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'conv-grads.json')
    with open(path, 'w') as f:
        json.dump({'torch': torch.__version__, 'cases': out}, f)
        f.write('\n')


if __name__ == '__main__':
    main()
