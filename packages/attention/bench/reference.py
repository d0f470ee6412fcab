"""PyTorch side of the attention benchmark, for @deformjs/core's interleavedBench (which sets the thread count):
the mmcv GeneralizedAttention port (scripts/make_fixtures.py) in float32, input 1x256x32x32, 8 heads, kv_stride 2,
types '0010' and '1111', forward and forward + backward (input and every parameter)."""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'scripts'))
from make_fixtures import GeneralizedAttention  # noqa: E402


def cases():
    torch.set_default_dtype(torch.float32)
    torch.manual_seed(0)
    x = torch.randn(1, 256, 32, 32)
    out = {}
    for attention_type in ('0010', '1111'):
        module = GeneralizedAttention(256, num_heads=8, kv_stride=2, attention_type=attention_type)
        with torch.no_grad():
            module.gamma.fill_(0.5)
        xg = x.clone().requires_grad_()

        def forward(module=module):
            with torch.no_grad():
                module(x)

        def forward_backward(module=module, xg=xg):
            module.zero_grad()
            xg.grad = None
            module(xg).sum().backward()

        out[f'{attention_type} forward'] = forward
        out[f'{attention_type} forward + backward'] = forward_backward
    return out
