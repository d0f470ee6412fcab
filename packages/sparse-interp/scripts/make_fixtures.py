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


def bottleneck_case():
    # The reference Bottleneck's evaluation forward with given masks (conv2 stride 2, downsample), float64.
    inplanes, planes, stride = 6, 4, 2
    conv = lambda i, o, k, s=1, bias=False: torch.nn.Conv2d(i, o, k, stride=s, padding=k // 2, bias=bias)
    m = torch.nn.ModuleDict({
        'conv1': conv(inplanes, planes, 1), 'bn1': torch.nn.BatchNorm2d(planes),
        'conv2': conv(planes, planes, 3, stride), 'bn2': torch.nn.BatchNorm2d(planes),
        'conv3': conv(planes, planes * 4, 1), 'bn3': torch.nn.BatchNorm2d(planes * 4),
        'downsample': torch.nn.Sequential(conv(inplanes, planes * 4, 1, stride), torch.nn.BatchNorm2d(planes * 4)),
        'conv1_mask': conv(inplanes, 1, 3, 1, True), 'conv2_mask': conv(inplanes, 1, 3, stride, True),
    })
    for bn in [m['bn1'], m['bn2'], m['bn3'], m['downsample'][1]]:
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.5, 0.5)
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 1.5)
    m.eval()
    sigma1, sigma2 = torch.tensor(2.5), torch.tensor(3.5)
    x = torch.randn(2, inplanes, 9, 10)
    m1 = (torch.rand(2, 1, 9, 10) < 0.4).double() * (0.5 + 0.5 * torch.rand(2, 1, 9, 10))
    m2 = (torch.rand(2, 1, 5, 5) < 0.3).double()
    with torch.no_grad():
        out = F.relu(m['bn1'](m['conv1'](x)))
        out = reconstruct(out, m1, sigma1, 7)
        out = F.relu(m['bn2'](m['conv2'](out)))
        out = reconstruct(out, m2, sigma2, 7)
        out = F.relu(m['bn3'](m['conv3'](out)) + m['downsample'](x))
        p1 = torch.sigmoid(m['conv1_mask'](x))
        p2 = torch.sigmoid(m['conv2_mask'](x))
    state = {k: {'shape': list(v.shape), 'data': v.flatten().tolist()} for k, v in m.state_dict().items() if not k.endswith('num_batches_tracked')}
    state['conv1_sigma'] = {'shape': [], 'data': [2.5]}
    state['conv2_sigma'] = {'shape': [], 'data': [3.5]}
    return {'state': state, 'x': nhwc(x), 'mask1': nhwc(m1), 'mask2': nhwc(m2), 'out': nhwc(out), 'p1': nhwc(p1), 'p2': nhwc(p2)}


cases['bottleneck'] = bottleneck_case()
import torchvision  # noqa: E402

cases['resnet50Keys'] = [k for k in torchvision.models.resnet50().state_dict().keys() if not k.startswith('fc.')]
cases['kernel'] = {'sigma': 3.0, 'size': 7, 'data': gaussian(torch.tensor(3.0), 7).flatten().tolist()}

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, '..', 'test', 'fixtures', 'interpolation.json'), 'w') as f:
    json.dump(cases, f)
