"""Golden values for @deformjs/dcn's tests, computed in float64.

Run with Debian's interpreter (torch 1.13, torchvision 0.14):

    /usr/bin/python3 packages/dcn/scripts/make_fixtures.py

Deformable convolution: torchvision.ops.deform_conv2d, outputs and the gradients of
sum(output * gradOutput) with respect to input, offset, mask, weight and bias.
Modulated deformable RoI pooling: a direct float64 loop port of mmcv's deform_roi_pool forward
(mmcv/ops/csrc/common/cuda/deform_roi_pool_cuda_kernel.cuh with common_cuda_helper's bilinear_interpolate),
times the mask as ModulatedDeformRoIPoolPack does; gradients by torch autograd through that loop, i.e. the
exact derivative of the forward (mmcv's hand-written offset gradient differs from it inside the border band
(-1, 0] and [H-1, H), where the forward clamps).

Everything is written in deformjs's layouts, converted here from PyTorch's:
input / offset / mask / output NCHW -> NHWC, weight OIHW -> HWIO, RoI offsets (R, 2, ph, pw) -> (R, ph, pw, 2)
with the last axis (dx, dy) as in mmcv's channel order, RoI masks (R, 1, ph, pw) -> (R, ph, pw, 1).
The DCN offset channel order (2*(g*K+k) = dy, 2*(g*K+k)+1 = dx) is unchanged by the layout move.
"""
import json
import math
import os

import torch
import torchvision
from torchvision.ops import deform_conv2d

torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures')


def nhwc(t):
    return t.permute(0, 2, 3, 1).contiguous()


def hwio(w):
    return w.permute(2, 3, 1, 0).contiguous()


def flat(t):
    # 10 significant digits: float32 values survive exactly, files stay small.
    return [float('%.10g' % v) for v in t.detach().reshape(-1).tolist()]


def tensor_entry(t):
    return {'shape': list(t.shape), 'data': flat(t)}


def write(name, payload):
    path = os.path.join(OUT, name)
    with open(path, 'w') as f:
        json.dump(payload, f, separators=(',', ':'))
    print('%s: %d bytes' % (path, os.path.getsize(path)))


def dcn_case(name, gen, batch, in_ch, out_ch, groups, offset_groups, kernel, stride, pad, dilation, size,
             with_mask, with_bias, offset_scale):
    kh, kw = kernel
    H, W = size
    Ho = (H + 2 * pad[0] - (dilation[0] * (kh - 1) + 1)) // stride[0] + 1
    Wo = (W + 2 * pad[1] - (dilation[1] * (kw - 1) + 1)) // stride[1] + 1
    x = torch.rand(batch, in_ch, H, W, generator=gen).requires_grad_()
    # Offsets well beyond the map's border so that some taps are partly or wholly outside.
    offset = ((torch.rand(batch, 2 * offset_groups * kh * kw, Ho, Wo, generator=gen) * 2 - 1) * offset_scale).requires_grad_()
    mask = torch.rand(batch, offset_groups * kh * kw, Ho, Wo, generator=gen).requires_grad_() if with_mask else None
    weight = (torch.rand(out_ch, in_ch // groups, kh, kw, generator=gen) * 2 - 1).requires_grad_()
    bias = (torch.rand(out_ch, generator=gen) * 2 - 1).requires_grad_() if with_bias else None
    out = deform_conv2d(x, offset, weight, bias, stride=stride, padding=pad, dilation=dilation, mask=mask)
    grad_out = torch.rand(out.shape, generator=gen) * 2 - 1
    leaves = [x, offset, weight] + ([mask] if with_mask else []) + ([bias] if with_bias else [])
    grads = torch.autograd.grad((out * grad_out).sum(), leaves, allow_unused=True)
    g = dict(zip(['input', 'offset', 'weight'] + (['mask'] if with_mask else []) + (['bias'] if with_bias else []), grads))

    def zero_if_none(t, like):
        return torch.zeros_like(like) if t is None else t

    payload = {
        'source': 'torchvision %s deform_conv2d, float64' % torchvision.__version__,
        'options': {'strides': list(stride), 'pad': list(pad), 'dilations': list(dilation), 'groups': groups,
                    'offsetGroups': offset_groups},
        'input': tensor_entry(nhwc(x)),
        'offset': tensor_entry(nhwc(offset)),
        'weight': tensor_entry(hwio(weight)),
        'output': tensor_entry(nhwc(out)),
        'gradOutput': tensor_entry(nhwc(grad_out)),
        'gradInput': tensor_entry(nhwc(zero_if_none(g['input'], x))),
        'gradOffset': tensor_entry(nhwc(zero_if_none(g['offset'], offset))),
        'gradWeight': tensor_entry(hwio(zero_if_none(g['weight'], weight))),
    }
    if with_mask:
        payload['mask'] = tensor_entry(nhwc(mask))
        payload['gradMask'] = tensor_entry(nhwc(zero_if_none(g['mask'], mask)))
    if with_bias:
        payload['bias'] = tensor_entry(bias)
        payload['gradBias'] = tensor_entry(zero_if_none(g['bias'], bias))
    write(name, payload)


def mdconv_layer_case(name, gen, batch, in_ch, out_ch, kernel, stride, pad, dilation, groups, deform_groups, size):
    """mmcv's ModulatedDeformConv2dPack written out with torchvision's op, with a non-zero conv_offset."""
    kh, kw = kernel
    K = kh * kw
    conv_offset = torch.nn.Conv2d(in_ch, 3 * deform_groups * K, kernel, stride, pad, dilation, bias=True)
    with torch.no_grad():
        conv_offset.weight.copy_((torch.rand(conv_offset.weight.shape, generator=gen) * 2 - 1) * 0.5)
        conv_offset.bias.copy_(torch.rand(conv_offset.bias.shape, generator=gen) * 2 - 1)
    weight = torch.rand(out_ch, in_ch // groups, kh, kw, generator=gen) * 2 - 1
    bias = torch.rand(out_ch, generator=gen) * 2 - 1
    weight.requires_grad_()
    bias.requires_grad_()
    x = torch.rand(batch, in_ch, size[0], size[1], generator=gen).requires_grad_()
    o1, o2, m = torch.chunk(conv_offset(x), 3, dim=1)
    out = deform_conv2d(x, torch.cat((o1, o2), dim=1), weight, bias, stride=stride, padding=pad, dilation=dilation,
                        mask=torch.sigmoid(m))
    grad_out = torch.rand(out.shape, generator=gen) * 2 - 1
    params = [weight, bias, conv_offset.weight, conv_offset.bias]
    grads = torch.autograd.grad((out * grad_out).sum(), [x] + params)
    payload = {
        'source': 'ModulatedDeformConv2dPack (mmcv semantics) via torchvision %s deform_conv2d, float64' % torchvision.__version__,
        'options': {'inChannels': in_ch, 'outChannels': out_ch, 'kernelSize': list(kernel), 'stride': list(stride),
                    'padding': list(pad), 'dilation': list(dilation), 'groups': groups, 'deformGroups': deform_groups},
        # The state_dict stays in PyTorch's layout (OIHW): the test loads it with torchLayout.
        'stateDict': {'weight': tensor_entry(weight), 'bias': tensor_entry(bias),
                      'conv_offset.weight': tensor_entry(conv_offset.weight), 'conv_offset.bias': tensor_entry(conv_offset.bias)},
        'input': tensor_entry(nhwc(x)),
        'output': tensor_entry(nhwc(out)),
        'gradOutput': tensor_entry(nhwc(grad_out)),
        'gradInput': tensor_entry(nhwc(grads[0])),
        # Parameter gradients in PyTorch's layout too, keyed like the state_dict.
        'gradStateDict': {k: tensor_entry(g) for k, g in zip(['weight', 'bias', 'conv_offset.weight', 'conv_offset.bias'], grads[1:])},
    }
    write(name, payload)


# ---- modulated deformable RoI pooling: mmcv's semantics, loop by loop ----

def mmcv_bilinear(feat, H, W, y, x):
    """mmcv's bilinear_interpolate on one channel-vector feat[h][w] -> (C,). y, x are 0-d tensors."""
    yv, xv = float(y), float(x)
    if yv < -1.0 or yv > H or xv < -1.0 or xv > W:
        return torch.zeros(feat.shape[2])
    if yv <= 0:
        y = torch.zeros(())
        yv = 0.0
    if xv <= 0:
        x = torch.zeros(())
        xv = 0.0
    y_low, x_low = int(yv), int(xv)
    if y_low >= H - 1:
        y_high = y_low = H - 1
        y = torch.tensor(float(y_low))
    else:
        y_high = y_low + 1
    if x_low >= W - 1:
        x_high = x_low = W - 1
        x = torch.tensor(float(x_low))
    else:
        x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1 - ly, 1 - lx
    return (hy * hx * feat[y_low, x_low] + hy * lx * feat[y_low, x_high]
            + ly * hx * feat[y_high, x_low] + ly * lx * feat[y_high, x_high])


def mmcv_deform_roi_pool(inp, rois, offset, pooled, spatial_scale, sampling_ratio, gamma):
    """inp (N, H, W, C) NHWC; offset (R, ph, pw, 2) with (dx, dy) or None. Returns (R, ph, pw, C)."""
    N, H, W, C = inp.shape
    ph_n, pw_n = pooled
    rows = []
    for n in range(rois.shape[0]):
        b = int(rois[n, 0])
        start_w = float(rois[n, 1]) * spatial_scale - 0.5
        start_h = float(rois[n, 2]) * spatial_scale - 0.5
        end_w = float(rois[n, 3]) * spatial_scale - 0.5
        end_h = float(rois[n, 4]) * spatial_scale - 0.5
        roi_w, roi_h = end_w - start_w, end_h - start_h
        bin_h, bin_w = roi_h / ph_n, roi_w / pw_n
        grid_h = sampling_ratio if sampling_ratio > 0 else int(math.ceil(roi_h / ph_n))
        grid_w = sampling_ratio if sampling_ratio > 0 else int(math.ceil(roi_w / pw_n))
        count = max(grid_h * grid_w, 1)
        cells = []
        for ph in range(ph_n):
            for pw in range(pw_n):
                sw, sh = torch.tensor(start_w), torch.tensor(start_h)
                if offset is not None:
                    sw = sw + gamma * roi_w * offset[n, ph, pw, 0]
                    sh = sh + gamma * roi_h * offset[n, ph, pw, 1]
                acc = torch.zeros(C)
                for iy in range(grid_h):
                    y = sh + ph * bin_h + (iy + 0.5) * bin_h / grid_h
                    for ix in range(grid_w):
                        x = sw + pw * bin_w + (ix + 0.5) * bin_w / grid_w
                        acc = acc + mmcv_bilinear(inp[b], H, W, y, x)
                cells.append(acc / count)
        rows.append(torch.stack(cells).reshape(ph_n, pw_n, C))
    return torch.stack(rows) if rows else torch.zeros(0, ph_n, pw_n, C)


def roi_pool_case(name, gen, sampling_ratio, with_offset, with_mask):
    N, H, W, C = 2, 6, 7, 3
    pooled = (3, 2)
    spatial_scale, gamma = 0.5, 0.1
    inp = torch.rand(N, H, W, C, generator=gen).requires_grad_()
    # Image coordinates (x1, y1, x2, y2): inside, partly outside on each side, tiny, and across the whole map.
    rois = torch.tensor([
        [0, 1.0, 2.0, 9.0, 8.0],
        [1, -4.0, -3.0, 6.0, 5.0],
        [0, 6.5, 4.0, 16.0, 13.5],
        [1, 3.0, 3.0, 3.6, 4.1],
        [1, 0.0, 0.0, 13.0, 11.0],
        [0, 10.0, 1.0, 15.0, 12.0],
    ])
    R = rois.shape[0]
    offset = ((torch.rand(R, pooled[0], pooled[1], 2, generator=gen) * 2 - 1) * 3).requires_grad_() if with_offset else None
    mask = torch.rand(R, pooled[0], pooled[1], 1, generator=gen).requires_grad_() if with_mask else None
    out = mmcv_deform_roi_pool(inp, rois, offset, pooled, spatial_scale, sampling_ratio, gamma)
    if not with_offset:
        # Without offsets mmcv's op is RoIAlign with aligned=True: check the port against torchvision's kernel.
        align = torchvision.ops.roi_align(inp.permute(0, 3, 1, 2), rois, pooled, spatial_scale, sampling_ratio, True)
        assert torch.allclose(out, align.permute(0, 2, 3, 1), atol=1e-12), 'loop port disagrees with roi_align'
    if with_mask:
        out = out * mask
    grad_out = torch.rand(out.shape, generator=gen) * 2 - 1
    leaves = [inp] + ([offset] if with_offset else []) + ([mask] if with_mask else [])
    grads = torch.autograd.grad((out * grad_out).sum(), leaves)
    payload = {
        'source': 'float64 loop port of mmcv deform_roi_pool (x mask), autograd gradients',
        'options': {'outputSize': list(pooled), 'spatialScale': spatial_scale, 'samplingRatio': sampling_ratio,
                    'gamma': gamma},
        'input': tensor_entry(inp),
        'rois': tensor_entry(rois),
        'output': tensor_entry(out),
        'gradOutput': tensor_entry(grad_out),
        'gradInput': tensor_entry(grads[0]),
    }
    i = 1
    if with_offset:
        payload['offset'] = tensor_entry(offset)
        payload['gradOffset'] = tensor_entry(grads[i])
        i += 1
    if with_mask:
        payload['mask'] = tensor_entry(mask)
        payload['gradMask'] = tensor_entry(grads[i])
    write(name, payload)


def main():
    os.makedirs(OUT, exist_ok=True)
    gen = torch.Generator().manual_seed(20181128)
    # torchvision's own awkward configuration (test_ops.py TestDeformConv.get_fn_args).
    awkward = dict(in_ch=6, out_ch=2, groups=2, offset_groups=3, kernel=(3, 2), stride=(2, 1), pad=(1, 0),
                   dilation=(2, 1), size=(5, 4), offset_scale=3.0)
    dcn_case('deform_conv2d_b33_mask.json', gen, batch=33, with_mask=True, with_bias=True, **awkward)
    dcn_case('deform_conv2d_b33_nomask.json', gen, batch=33, with_mask=False, with_bias=True, **awkward)
    dcn_case('deform_conv2d_b0_mask.json', gen, batch=0, with_mask=True, with_bias=True, **awkward)
    # A 3x3 "same" conv as ResNet uses it, one weight group, two offset groups, no bias.
    dcn_case('deform_conv2d_3x3.json', gen, batch=2, in_ch=4, out_ch=3, groups=1, offset_groups=2,
             kernel=(3, 3), stride=(1, 1), pad=(1, 1), dilation=(1, 1), size=(5, 6), with_mask=True,
             with_bias=False, offset_scale=2.0)
    mdconv_layer_case('mdconv_layer_3x3.json', gen, batch=2, in_ch=4, out_ch=5, kernel=(3, 3), stride=(1, 1),
                      pad=(1, 1), dilation=(1, 1), groups=1, deform_groups=2, size=(5, 6))
    mdconv_layer_case('mdconv_layer_dilated.json', gen, batch=1, in_ch=4, out_ch=6, kernel=(3, 2), stride=(2, 1),
                      pad=(2, 1), dilation=(2, 2), groups=2, deform_groups=4, size=(7, 5))
    roi_pool_case('mdpool_adaptive.json', gen, sampling_ratio=0, with_offset=True, with_mask=True)
    roi_pool_case('mdpool_ratio2.json', gen, sampling_ratio=2, with_offset=True, with_mask=False)
    roi_pool_case('mdpool_plain.json', gen, sampling_ratio=0, with_offset=False, with_mask=False)


if __name__ == '__main__':
    main()
