"""Golden values for @deformjs/deformable-kernels from a float64 PyTorch reference.

Run with Debian's interpreter (torch 1.13):  /usr/bin/python3 scripts/make_fixtures.py
Writes test/fixtures/deformable_kernels.json.

The official implementation (hangg7/deformable-kernels) is CUDA only. This script re-implements its kernels
in plain PyTorch, following the CUDA code term by term, and lets autograd give the gradients:
- `planar_bilinear` (filter_sample_depthwise_cuda_kernel.cu): a kernel tap at (h, w) in scope space reads the
  scope kernel bilinearly, 0 unless -1 < h < scopeH and -1 < w < scopeW, corners outside the scope give 0.
- SampleDepthwise (local): tap (i, j) of output (ho, wo) in channel c reads the input at
  (ho*s - p + i*d, wo*s - p + j*d) (0 outside) and the kernel at (i + rh + (sH - kh)/2, j + rw + (sW - kw)/2),
  where (rh, rw) = rotation[n, (c % R)*K*2 + t*2 + (0, 1), ho, wo], t = i*kw + j.
- DeformableSampleDepthwise: the input is read bilinearly at (.. + dh, .. + dw) with the offsets
  offset[n, t*2 + (0, 1), ho, wo] (one deformable group), 0 unless -1 < h < H and -1 < w < W.
- GlobalDeformKernel2d: coord = fc(mean over H, W) + the tap grid, clamped to [0, scope[0] - 1] (the
  official clamp uses scope[0] for both axes), nd_linear sampling (same bilinear rule), then a per-image
  depthwise conv.
Tensors are stored NHWC (inputs, deltas, offsets, outputs) and in PyTorch layouts (weights), so the test
converts weights with the core's layout conversion.
"""
import json
import math
import os

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)


def bilinear(planes, h, w, height, width, plane_index):
    """Reads planes (flattened [P, height, width]) at fractional (h, w) for every element, from plane
    plane_index (same shape as h). 0 unless -1 < h < height and -1 < w < width; corners outside give 0."""
    flat = planes.reshape(-1)
    valid = (h > -1) & (h < height) & (w > -1) & (w < width)
    h0 = torch.floor(h)
    w0 = torch.floor(w)
    lh = h - h0
    lw = w - w0
    out = torch.zeros_like(h)
    for dh, dw, weight in ((0, 0, (1 - lh) * (1 - lw)), (0, 1, (1 - lh) * lw), (1, 0, lh * (1 - lw)), (1, 1, lh * lw)):
        hc = h0.long() + dh
        wc = w0.long() + dw
        inside = valid & (hc >= 0) & (hc <= height - 1) & (wc >= 0) & (wc <= width - 1)
        index = plane_index * (height * width) + hc.clamp(0, height - 1) * width + wc.clamp(0, width - 1)
        out = out + torch.where(inside, weight * flat[index], torch.zeros_like(h))
    return out


def out_size(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def sample_depthwise(x, offset, rotation, weight, kernel, stride, padding, dilation, groups):
    """DeformableSampleDepthwise (offset given) or SampleDepthwise (offset None). x [N, C, H, W];
    rotation [N, R*K*2, Ho, Wo]; weight [C, 1, sH, sW]."""
    n, c, height, width = x.shape
    kh, kw = kernel
    sh, sw = weight.shape[2], weight.shape[3]
    ho_n = out_size(height, kh, stride[0], padding[0], dilation[0])
    wo_n = out_size(width, kw, stride[1], padding[1], dilation[1])
    k_taps = kh * kw
    ho = torch.arange(ho_n, dtype=torch.float64).view(1, 1, ho_n, 1)
    wo = torch.arange(wo_n, dtype=torch.float64).view(1, 1, 1, wo_n)
    channel = torch.arange(c).view(1, c, 1, 1)
    image = torch.arange(n).view(n, 1, 1, 1)
    group = channel % groups
    rot = rotation.view(n, groups, k_taps, 2, ho_n, wo_n)
    shape = (n, c, ho_n, wo_n)
    out = torch.zeros(shape)
    for i in range(kh):
        for j in range(kw):
            t = i * kw + j
            in_h = (ho * stride[0] - padding[0] + i * dilation[0]).expand(shape)
            in_w = (wo * stride[1] - padding[1] + j * dilation[1]).expand(shape)
            if offset is None:
                # Integer positions: the bilinear read is the value itself, 0 outside.
                sample = bilinear(x, in_h, in_w, height, width, (image * c + channel).expand(shape))
            else:
                off = offset.view(n, k_taps, 2, ho_n, wo_n)
                sh_img = in_h + off[:, t, 0].unsqueeze(1)
                sw_img = in_w + off[:, t, 1].unsqueeze(1)
                sample = bilinear(x, sh_img, sw_img, height, width, (image * c + channel).expand(shape))
            # Channel c reads its rotation group c % R (interleaved).
            group_index = group.expand(n, c, ho_n, wo_n)
            rh = rot[:, :, t, 0].gather(1, group_index)
            rw = rot[:, :, t, 1].gather(1, group_index)
            fh = i + rh + (sh - kh) / 2.0
            fw = j + rw + (sw - kw) / 2.0
            kernel_value = bilinear(weight, fh, fw, sh, sw, channel.expand(shape))
            out = out + sample * kernel_value
    return out


def global_deform_kernel(x, coord_delta, weight, kernel, stride, padding, dilation):
    """GlobalDeformKernel2d after its fc: coord_delta [N, K*2] (h, w per tap)."""
    n, c, height, width = x.shape
    kh, kw = kernel
    sh, sw = weight.shape[2], weight.shape[3]
    start_h = (sh - (kh - 1) - 1) / 2.0
    start_w = (sw - (kw - 1) - 1) / 2.0
    bias = []
    for i in range(kh):
        for j in range(kw):
            bias += [start_h + i, start_w + j]
    coord = coord_delta + torch.tensor(bias).unsqueeze(0)
    coord = torch.clamp(coord, 0, sh - 1)
    coord = coord.view(n, kh * kw, 2)
    ch = coord[:, :, 0].view(n, 1, kh * kw).expand(n, c, kh * kw)
    cw = coord[:, :, 1].view(n, 1, kh * kw).expand(n, c, kh * kw)
    channel = torch.arange(c).view(1, c, 1).expand(n, c, kh * kw)
    sampled = bilinear(weight, ch, cw, sh, sw, channel)  # [N, C, K]
    per_image = sampled.reshape(n * c, 1, kh, kw)
    out = F.conv2d(x.reshape(1, n * c, height, width), per_image, stride=stride, padding=padding, dilation=dilation, groups=n * c)
    return out.view(n, c, out.shape[2], out.shape[3])


def rounded(t):
    return [float('%.10g' % v) for v in t.detach().reshape(-1).tolist()]


def nhwc(t):
    return t.permute(0, 2, 3, 1)


def tensor_entry(t):
    return {'shape': list(t.shape), 'values': rounded(t)}


def op_case(name, kind, n, c, height, width, kernel, scope, stride, padding, dilation, groups, seed, with_rotation=True):
    torch.manual_seed(seed)
    kh, kw = kernel
    ho_n = out_size(height, kh, stride[0], padding[0], dilation[0])
    wo_n = out_size(width, kw, stride[1], padding[1], dilation[1])
    x = torch.randn(n, c, height, width, requires_grad=True)
    weight = torch.randn(c, 1, *scope, requires_grad=True)
    leaves = {'input': x, 'weight': weight}
    if kind == 'global':
        deltas = (torch.rand(n, kh * kw * 2) * 4 - 2).requires_grad_()
        leaves['deltas'] = deltas
        out = global_deform_kernel(x, deltas, weight, kernel, stride, padding, dilation)
    else:
        offsets = None
        if kind == 'conv':
            offsets = (torch.rand(n, kh * kw * 2, ho_n, wo_n) * 3 - 1.5).requires_grad_()
            leaves['offsets'] = offsets
        if with_rotation:
            deltas = (torch.rand(n, groups * kh * kw * 2, ho_n, wo_n) * 3 - 1.5).requires_grad_()
            leaves['deltas'] = deltas
        else:
            deltas = torch.zeros(n, groups * kh * kw * 2, ho_n, wo_n)
        out = sample_depthwise(x, offsets, deltas, weight, kernel, stride, padding, dilation, groups)
    cotangent = torch.randn_like(out)
    (out * cotangent).sum().backward()

    def stored(key, t):
        # Image-like tensors go NHWC; the weight stays in PyTorch's (C, 1, sH, sW); global deltas are [N, K*2].
        if key == 'weight' or t.dim() == 2:
            return tensor_entry(t)
        return tensor_entry(nhwc(t))

    return {
        'name': name,
        'kind': kind,
        'config': {'kernelSize': list(kernel), 'stride': list(stride), 'padding': list(padding), 'dilation': list(dilation), 'rotationGroups': groups},
        'inputs': {k: stored(k, v) for k, v in leaves.items()},
        'output': tensor_entry(nhwc(out)),
        'cotangent': tensor_entry(nhwc(cotangent)),
        'grads': {k: stored(k, v.grad) for k, v in leaves.items()},
    }


def layer_case(name, kind, n, c, height, width, kernel, scope, stride, padding, dilation, groups, seed):
    """The official modules' forward with random (non-zero) predictor weights; parameters in state_dict names."""
    torch.manual_seed(seed)
    kh, kw = kernel
    k_taps = kh * kw
    x = torch.randn(n, c, height, width, requires_grad=True)
    params = {}
    if kind == 'local':
        params['rotation_conv.weight'] = torch.randn(groups * k_taps * 2, c, kh, kw) * 0.3
        params['rotation_conv.bias'] = torch.randn(groups * k_taps * 2) * 0.3
        params['inner_conv.weight'] = torch.randn(c, 1, *scope)
    elif kind == 'global':
        params['weight'] = torch.randn(c, 1, *scope)
        params['fc.weight'] = torch.randn(k_taps * 2, c) * 0.5
        params['fc.bias'] = torch.randn(k_taps * 2) * 0.5
    else:
        params['offset_conv.weight'] = torch.randn(k_taps * 2, c, kh, kw) * 0.3
        params['offset_conv.bias'] = torch.randn(k_taps * 2) * 0.3
        params['inner_conv.weight'] = torch.randn(c, 1, *scope)
    for p in params.values():
        p.requires_grad_()
    if kind == 'local':
        rotation = F.conv2d(x, params['rotation_conv.weight'], params['rotation_conv.bias'], stride, padding, dilation)
        out = sample_depthwise(x, None, rotation, params['inner_conv.weight'], kernel, stride, padding, dilation, groups)
    elif kind == 'global':
        coord_delta = F.linear(x.view(n, c, -1).mean(2), params['fc.weight'], params['fc.bias'])
        out = global_deform_kernel(x, coord_delta, params['weight'], kernel, stride, padding, dilation)
    else:
        offset = F.conv2d(x, params['offset_conv.weight'], params['offset_conv.bias'], stride, padding, dilation)
        offset = offset * dilation[0]
        rotation = torch.zeros(n, k_taps * 2, offset.shape[2], offset.shape[3])
        out = sample_depthwise(x, offset, rotation, params['inner_conv.weight'], kernel, stride, padding, dilation, 1)
    cotangent = torch.randn_like(out)
    (out * cotangent).sum().backward()
    return {
        'name': name,
        'kind': kind,
        'config': {'channels': c, 'kernelSize': list(kernel), 'scope': list(scope), 'stride': list(stride), 'padding': list(padding), 'dilation': list(dilation), 'rotationGroups': groups},
        'input': tensor_entry(nhwc(x)),
        'params': {k: tensor_entry(v) for k, v in params.items()},
        'output': tensor_entry(nhwc(out)),
        'cotangent': tensor_entry(nhwc(cotangent)),
        'grad_input': tensor_entry(nhwc(x.grad)),
        'grad_params': {k: tensor_entry(v.grad) for k, v in params.items()},
    }


def main():
    ops = [
        op_case('local: 6 channels, 2 rotation groups, scope 4x5, k 3', 'local', 2, 6, 5, 5, (3, 3), (4, 5), (1, 1), (1, 1), (1, 1), 2, 1),
        op_case('local: k 3x2, stride 2, pad (1, 0), dilation (2, 1), scope 5, 4 groups', 'local', 1, 4, 7, 6, (3, 2), (5, 5), (2, 2), (1, 0), (2, 1), 4, 2),
        op_case('conv: image offsets and kernel deltas, 2 rotation groups', 'conv', 1, 4, 5, 6, (3, 3), (4, 4), (1, 1), (1, 1), (1, 1), 2, 3),
        op_case('conv: image offsets only, stride 2, scope 5', 'conv', 2, 3, 6, 5, (3, 3), (5, 5), (2, 2), (1, 1), (1, 1), 1, 4, with_rotation=False),
        op_case('global: scope 5, k 3, clamped coordinates', 'global', 2, 5, 6, 5, (3, 3), (5, 5), (1, 1), (1, 1), (1, 1), 1, 5),
        op_case('global: scope 4, k 3, stride 2, dilation 2', 'global', 1, 3, 7, 7, (3, 3), (4, 4), (2, 2), (2, 2), (2, 2), 1, 6),
    ]
    layers = [
        layer_case('LocalDeformKernel2d: 4 channels, 2 rotation groups, scope 4, k 3', 'local', 2, 4, 5, 6, (3, 3), (4, 4), (1, 1), (1, 1), (1, 1), 2, 11),
        layer_case('GlobalDeformKernel2d: 4 channels, scope 4, k 3', 'global', 2, 4, 5, 5, (3, 3), (4, 4), (1, 1), (1, 1), (1, 1), 1, 12),
        layer_case('DeformKernelConv2d: 4 channels, scope 4, k 3, dilation 2', 'conv', 1, 4, 6, 6, (3, 3), (4, 4), (1, 1), (2, 2), (2, 2), 1, 13),
    ]
    path = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'deformable_kernels.json')
    with open(path, 'w') as f:
        json.dump({'source': 'scripts/make_fixtures.py (float64 PyTorch port of hangg7/deformable-kernels)', 'ops': ops, 'layers': layers}, f)
    print('wrote', path, os.path.getsize(path), 'bytes')


if __name__ == '__main__':
    main()
