"""PyTorch / scipy side of the @deformjs/nn benchmarks (2 threads). Prints one JSON line of medians in ms."""
import json
import sys
import time

import numpy as np
import scipy.optimize
import torch
import torchvision

torch.set_num_threads(2)
warmup, runs = int(sys.argv[1]), int(sys.argv[2])


def median_ms(fn, warm=None, count=None):
    for _ in range(warmup if warm is None else warm):
        fn()
    times = []
    for _ in range(runs if count is None else count):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return sorted(times)[len(times) // 2]


cost = np.random.default_rng(0).random((300, 100))
matching = median_ms(lambda: scipy.optimize.linear_sum_assignment(cost), 50, 101)

r50 = torchvision.models.resnet50().eval()
x50 = torch.randn(1, 3, 512, 512)


def r50_features():
    with torch.no_grad():
        x = r50.maxpool(r50.relu(r50.bn1(r50.conv1(x50))))
        for layer in (r50.layer1, r50.layer2, r50.layer3, r50.layer4):
            x = layer(x)
    return x


r50_forward = median_ms(r50_features)

r18 = torchvision.models.resnet18().train()
x18 = torch.randn(1, 3, 320, 320)


def r18_step():
    r18.zero_grad()
    x = r18.maxpool(r18.relu(r18.bn1(r18.conv1(x18))))
    for layer in (r18.layer1, r18.layer2, r18.layer3, r18.layer4):
        x = layer(x)
    x.sum().backward()


r18_train = median_ms(r18_step)
print(json.dumps({'torch': torch.__version__, 'scipy': scipy.__version__, 'matching': matching, 'resnet50Forward': r50_forward, 'resnet18ForwardBackward': r18_train}))
