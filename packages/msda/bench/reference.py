"""Pure-PyTorch multi-scale deformable attention (grid_sample per level, Deformable DETR's CPU path), the PyTorch
side of bench/index.ts for @deformjs/core's interleavedBench (which sets the thread count): decoder (Lq = 300) and
encoder (Lq = S) cases, forward and forward + backward (gradients of value, locations and weights)."""
import torch
import torch.nn.functional as F

LEVELS = [(64, 64), (32, 32), (16, 16), (8, 8)]
M, D, P = 8, 32, 4


def ms_deform_attn_core_pytorch(value, spatial_shapes, sampling_locations, attention_weights):
    N, S, M_, D_ = value.shape
    _, Lq, _, L, P_, _ = sampling_locations.shape
    per_level = value.split([h * w for h, w in spatial_shapes], dim=1)
    grids = 2 * sampling_locations - 1
    sampled = []
    for lvl, (h, w) in enumerate(spatial_shapes):
        v = per_level[lvl].flatten(2).transpose(1, 2).reshape(N * M_, D_, h, w)
        g = grids[:, :, :, lvl].transpose(1, 2).flatten(0, 1)
        sampled.append(F.grid_sample(v, g, mode='bilinear', padding_mode='zeros', align_corners=False))
    attn = attention_weights.transpose(1, 2).reshape(N * M_, 1, Lq, L * P_)
    out = (torch.stack(sampled, dim=-2).flatten(-2) * attn).sum(-1).view(N, M_ * D_, Lq)
    return out.transpose(1, 2).contiguous()


def pair(lq):
    torch.manual_seed(0)
    S = sum(h * w for h, w in LEVELS)
    L = len(LEVELS)
    value = torch.randn(1, S, M, D, requires_grad=True)
    loc = torch.rand(1, lq, M, L, P, 2, requires_grad=True)
    attn = torch.softmax(torch.randn(1, lq, M, L * P), -1).view(1, lq, M, L, P).detach().requires_grad_()
    grad_out = torch.randn(1, lq, M * D)

    def forward():
        with torch.no_grad():
            ms_deform_attn_core_pytorch(value, LEVELS, loc, attn)

    def forward_backward():
        out = ms_deform_attn_core_pytorch(value, LEVELS, loc, attn)
        torch.autograd.grad(out, [value, loc, attn], grad_out)

    return forward, forward_backward


def cases():
    S = sum(h * w for h, w in LEVELS)
    out = {}
    for name, lq in (('decoder', 300), ('encoder', S)):
        forward, forward_backward = pair(lq)
        out[f'{name} forward (Lq={lq})'] = forward
        out[f'{name} forward+backward (Lq={lq})'] = forward_backward
    return out
