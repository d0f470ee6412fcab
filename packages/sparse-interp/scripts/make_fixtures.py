"""Golden values for @deformjs/sparse-interp from a float64 PyTorch port of the reference's
reconstruct_feature and GaussianKernel (zdaxie/SpatiallyAdaptiveInference-Detection), stored NHWC.
Run: /usr/bin/python3 scripts/make_fixtures.py"""
import json
import math
import os

import torch
import torch.nn.functional as F

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)


def gaussian(sigma, size):
    s = (size - 1) // 2
    x = torch.linspace(-s, s, size).reshape((size, 1)).repeat((1, size))
    y = torch.linspace(-s, s, size).reshape((1, size)).repeat((size, 1))
    k = sigma ** 2
    return k / (2.0 * math.pi) * torch.exp(-k / 2.0 * (x ** 2 + y ** 2))


def reconstruct(feature, mask, sigma, size):
    planes = feature.shape[1]
    weight = gaussian(sigma, size).reshape((1, 1, size, size))
    pad = (size - 1) // 2
    norm = F.conv2d(mask, weight, padding=pad) + 1e-5
    rec = F.conv2d(feature * mask, weight.repeat((planes, 1, 1, 1)), padding=pad, groups=planes) / norm
    return mask * feature + (1.0 - mask) * rec


def nhwc(t):
    return {'shape': list(t.permute(0, 2, 3, 1).shape), 'data': t.permute(0, 2, 3, 1).flatten().tolist()}


cases = {}
for name, binary in (('soft', False), ('binary', True)):
    N, C, H, W = 2, 3, 6, 9
    feature = torch.randn(N, C, H, W, requires_grad=True)
    u = torch.rand(N, 1, H, W)
    mask_value = (u < 0.35).double() if binary else torch.where(u < 0.4, torch.zeros_like(u), 0.5 + 0.5 * torch.rand(N, 1, H, W))
    mask = mask_value.clone().requires_grad_(True)
    sigma = torch.tensor(2.5, requires_grad=True)
    out = reconstruct(feature, mask, sigma, 7)
    r = torch.randn_like(out)
    (out * r).sum().backward()
    cases[name] = {
        'features': nhwc(feature.detach()), 'mask': nhwc(mask.detach()), 'sigma': 2.5, 'r': nhwc(r),
        'out': nhwc(out.detach()), 'dFeatures': nhwc(feature.grad), 'dMask': nhwc(mask.grad), 'dSigma': sigma.grad.item(),
    }
cases['kernel'] = {'sigma': 3.0, 'size': 7, 'data': gaussian(torch.tensor(3.0), 7).flatten().tolist()}

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, '..', 'test', 'fixtures', 'interpolation.json'), 'w') as f:
    json.dump(cases, f)
