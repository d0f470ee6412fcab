"""Times the official AutoSegLoss (forward + backward to the logits) in PyTorch on the CPU, 2 threads,
float32, for the cases bench/index.ts runs. Prints one JSON line: {case: median milliseconds}."""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'scripts'))
import make_fixtures as official  # noqa: E402  (the official formulas, restated)

torch.set_num_threads(2)
torch.set_default_dtype(torch.float32)


def main():
    cases = json.loads(sys.argv[1])
    out = {}
    for case in cases:
        B, H, W, K = case['shape']
        torch.manual_seed(0)
        logits = torch.randn(B, K, H, W).requires_grad_()
        labels = torch.randint(0, K, (B, H, W))
        theta = torch.tensor(case['controlPoints'])

        def step():
            logits.grad = None
            target = official.map_to_one_hot(labels, K).float()
            mask = (labels >= 0) & (labels < K)
            value = official.metric_value(case['metric'], torch.softmax(logits, 1), target, mask, theta, case['tolerance'], False)
            (1 - value).backward()

        for _ in range(2):
            step()
        times = []
        for _ in range(7):
            start = time.perf_counter()
            step()
            times.append((time.perf_counter() - start) * 1000)
        times.sort()
        out[case['name']] = times[len(times) // 2]
    print(json.dumps(out))


if __name__ == '__main__':
    main()
