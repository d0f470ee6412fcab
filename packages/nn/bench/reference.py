"""PyTorch / scipy side of the @deformjs/nn benchmarks, for @deformjs/core's interleavedBench (which sets the
thread count): Hungarian matching 300 x 100 (ten per case), torchvision ResNet-50 forward C2..C5 on 1x3x512x512
(eval), ResNet-18 forward + backward on 1x3x320x320 (train mode, gradients of every parameter)."""
import numpy as np
import scipy.optimize
import torch
import torchvision


def cases():
    cost = np.random.default_rng(0).random((300, 100))

    def matching():
        for _ in range(10):
            scipy.optimize.linear_sum_assignment(cost)

    r50 = torchvision.models.resnet50().eval()
    x50 = torch.randn(1, 3, 512, 512)

    def r50_features():
        with torch.no_grad():
            x = r50.maxpool(r50.relu(r50.bn1(r50.conv1(x50))))
            for layer in (r50.layer1, r50.layer2, r50.layer3, r50.layer4):
                x = layer(x)

    r18 = torchvision.models.resnet18().train()
    x18 = torch.randn(1, 3, 320, 320)

    def r18_step():
        r18.zero_grad()
        x = r18.maxpool(r18.relu(r18.bn1(r18.conv1(x18))))
        for layer in (r18.layer1, r18.layer2, r18.layer3, r18.layer4):
            x = layer(x)
        x.sum().backward()

    return {'matching 300x100 (x10)': matching, 'ResNet-50 forward 1x512x512x3': r50_features,
            'ResNet-18 forward + backward 1x320x320x3': r18_step}
