"""The official AutoSegLoss (forward + backward to the logits) in PyTorch, float32, the PyTorch side of
bench/index.ts for @deformjs/core's interleavedBench (which sets the thread count). `cases(json)` takes the cases
bench/index.ts runs: [{name, metric, shape, tolerance, controlPoints}]."""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'scripts'))
import make_fixtures as official  # noqa: E402  (the official formulas, restated)


def cases(spec):
    torch.set_default_dtype(torch.float32)
    out = {}
    for case in json.loads(spec):
        B, H, W, K = case['shape']
        torch.manual_seed(0)
        logits = torch.randn(B, K, H, W).requires_grad_()
        labels = torch.randint(0, K, (B, H, W))
        theta = torch.tensor(case['controlPoints'])

        def step(case=case, logits=logits, labels=labels, theta=theta, K=K):
            logits.grad = None
            target = official.map_to_one_hot(labels, K).float()
            mask = (labels >= 0) & (labels < K)
            value = official.metric_value(case['metric'], torch.softmax(logits, 1), target, mask, theta,
                                          case['tolerance'], False)
            (1 - value).backward()

        out[case['name']] = step
    return out
