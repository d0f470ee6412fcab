"""PyTorch side of the attention benchmark: the mmcv GeneralizedAttention port (scripts/make_fixtures.py) in
float32 on 2 threads, input 1x256x32x32, 8 heads, kv_stride 2. Prints one JSON line of median milliseconds."""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'scripts'))
from make_fixtures import GeneralizedAttention  # noqa: E402

torch.set_num_threads(2)
torch.set_default_dtype(torch.float32)
WARMUP, RUNS = (int(a) for a in sys.argv[1:3]) if len(sys.argv) > 2 else (2, 7)


def median_ms(f):
    for _ in range(WARMUP):
        f()
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        f()
        times.append((time.perf_counter() - start) * 1000)
    return sorted(times)[len(times) // 2]


def main():
    torch.manual_seed(0)
    x = torch.randn(1, 256, 32, 32)
    out = {'torch': torch.__version__}
    for attention_type in ('0010', '1111'):
        module = GeneralizedAttention(256, num_heads=8, kv_stride=2, attention_type=attention_type)
        with torch.no_grad():
            module.gamma.fill_(0.5)
        xg = x.clone().requires_grad_()

        def forward():
            with torch.no_grad():
                module(x)

        def forward_backward():
            module.zero_grad()
            xg.grad = None
            module(xg).sum().backward()

        out[attention_type] = {'forward': median_ms(forward), 'forwardBackward': median_ms(forward_backward)}
    print(json.dumps(out))


if __name__ == '__main__':
    main()
