"""Golden values for @deformjs/msda, from a pure-PyTorch reference computed in float64.

Run with Debian's interpreter (torch 1.13):  /usr/bin/python3 packages/msda/scripts/make_fixtures.py
Writes packages/msda/test/fixtures/*.json. Tests read these files and never need Python.
"""
import json
import math
import os

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures')


def ms_deform_attn_core_pytorch(value, spatial_shapes, sampling_locations, attention_weights):
    """MSDA by grid_sample, one level at a time (bilinear, zero padding, align_corners=False).

    value (N, S, M, D); spatial_shapes list of (H, W); sampling_locations (N, Lq, M, L, P, 2) as (x, y) in
    [0, 1]; attention_weights (N, Lq, M, L, P). Returns (N, Lq, M*D).
    """
    N, S, M, D = value.shape
    _, Lq, _, L, P, _ = sampling_locations.shape
    per_level = value.split([h * w for h, w in spatial_shapes], dim=1)
    grids = 2 * sampling_locations - 1  # grid_sample's [-1, 1]
    sampled = []
    for lvl, (h, w) in enumerate(spatial_shapes):
        # (N, H*W, M, D) -> (N*M, D, H, W)
        v = per_level[lvl].permute(0, 2, 3, 1).reshape(N * M, D, h, w)
        # (N, Lq, M, P, 2) -> (N*M, Lq, P, 2)
        g = grids[:, :, :, lvl].permute(0, 2, 1, 3, 4).reshape(N * M, Lq, P, 2)
        sampled.append(F.grid_sample(v, g, mode='bilinear', padding_mode='zeros', align_corners=False))  # (N*M, D, Lq, P)
    stacked = torch.stack(sampled, dim=-2).flatten(-2)  # (N*M, D, Lq, L*P)
    attn = attention_weights.permute(0, 2, 1, 3, 4).reshape(N * M, 1, Lq, L * P)
    out = (stacked * attn).sum(-1).view(N, M * D, Lq)
    return out.transpose(1, 2).contiguous()


def flat(t):
    return [float('%.10g' % x) for x in t.detach().reshape(-1).tolist()]


def write(name, data):
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name + '.json')
    with open(path, 'w') as f:
        json.dump(data, f, separators=(',', ':'))
    print('%s: %.1f kB' % (path, os.path.getsize(path) / 1024))


def op_case(name, N, M, D, Lq, shapes, P, seed, loc_low=0.0, loc_high=1.0, value_scale=1.0, far=False):
    g = torch.Generator().manual_seed(seed)
    L = len(shapes)
    S = sum(h * w for h, w in shapes)
    starts = [0]
    for h, w in shapes[:-1]:
        starts.append(starts[-1] + h * w)
    value = (torch.rand(N, S, M, D, generator=g) * value_scale).requires_grad_()
    loc = torch.rand(N, Lq, M, L, P, 2, generator=g) * (loc_high - loc_low) + loc_low
    if far:
        # Some points hundreds of maps away in every direction.
        far_mask = torch.rand(N, Lq, M, L, P, 2, generator=g) < 0.3
        loc = torch.where(far_mask, (torch.rand(N, Lq, M, L, P, 2, generator=g) - 0.5) * 400, loc)
    loc = loc.requires_grad_()
    attn = torch.rand(N, Lq, M, L, P, generator=g) + 1e-5
    attn = (attn / attn.sum(-1, keepdim=True).sum(-2, keepdim=True)).requires_grad_()
    out = ms_deform_attn_core_pytorch(value, shapes, loc, attn)
    grad_out = torch.randn(out.shape, generator=g)
    gv, gl, ga = torch.autograd.grad(out, [value, loc, attn], grad_out)
    write(name, {
        'N': N, 'M': M, 'D': D, 'Lq': Lq, 'L': L, 'P': P, 'S': S,
        'spatialShapes': [list(s) for s in shapes], 'levelStartIndex': starts,
        'value': flat(value), 'samplingLocations': flat(loc), 'attentionWeights': flat(attn),
        'output': flat(out), 'gradOutput': flat(grad_out),
        'gradValue': flat(gv), 'gradSamplingLocations': flat(gl), 'gradAttentionWeights': flat(ga),
    })


class MSDeformAttnReference(torch.nn.Module):
    """The module as ops.md describes it, with PyTorch's parameter names."""

    def __init__(self, d_model, n_levels, n_heads, n_points):
        super().__init__()
        self.n_levels, self.n_heads, self.n_points = n_levels, n_heads, n_points
        self.sampling_offsets = torch.nn.Linear(d_model, n_heads * n_levels * n_points * 2)
        self.attention_weights = torch.nn.Linear(d_model, n_heads * n_levels * n_points)
        self.value_proj = torch.nn.Linear(d_model, d_model)
        self.output_proj = torch.nn.Linear(d_model, d_model)

    def forward(self, query, reference_points, input_flatten, shapes, padding_mask):
        N, Lq, _ = query.shape
        _, S, _ = input_flatten.shape
        M, L, P = self.n_heads, self.n_levels, self.n_points
        value = self.value_proj(input_flatten)
        if padding_mask is not None:
            value = value.masked_fill(padding_mask[..., None], 0.0)
        value = value.view(N, S, M, -1)
        off = self.sampling_offsets(query).view(N, Lq, M, L, P, 2)
        attn = F.softmax(self.attention_weights(query).view(N, Lq, M, L * P), -1).view(N, Lq, M, L, P)
        if reference_points.shape[-1] == 2:
            shapes_t = torch.tensor(shapes, dtype=torch.float64)
            normalizer = torch.stack([shapes_t[:, 1], shapes_t[:, 0]], -1)
            loc = reference_points[:, :, None, :, None, :] + off / normalizer[None, None, None, :, None, :]
        else:
            loc = reference_points[:, :, None, :, None, :2] + off / P * reference_points[:, :, None, :, None, 2:] * 0.5
        return self.output_proj(ms_deform_attn_core_pytorch(value, shapes, loc, attn))


def module_case(seed):
    g = torch.Generator().manual_seed(seed)
    d, L, M, P = 16, 2, 2, 3
    shapes = [(4, 5), (2, 3)]
    S = sum(h * w for h, w in shapes)
    N, Lq = 2, 4
    mod = MSDeformAttnReference(d, L, M, P)
    with torch.no_grad():
        for p in mod.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    query = torch.randn(N, Lq, d, generator=g)
    flat_in = torch.randn(N, S, d, generator=g)
    ref2 = torch.rand(N, Lq, L, 2, generator=g)
    ref4 = torch.cat([torch.rand(N, Lq, L, 2, generator=g), torch.rand(N, Lq, L, 2, generator=g) * 0.5 + 0.1], -1)
    mask = torch.zeros(N, S, dtype=torch.bool)
    mask[1, 15:20] = True  # the second image's last row on both levels is padding
    mask[1, 23:26] = True
    out2 = mod(query, ref2, flat_in, shapes, mask)
    out4 = mod(query, ref4, flat_in, shapes, None)
    write('module', {
        'dModel': d, 'nLevels': L, 'nHeads': M, 'nPoints': P, 'N': N, 'Lq': Lq, 'S': S,
        'spatialShapes': [list(s) for s in shapes], 'levelStartIndex': [0, 20],
        'stateDict': {k: {'shape': list(v.shape), 'data': flat(v)} for k, v in mod.state_dict().items()},
        'query': flat(query), 'inputFlatten': flat(flat_in),
        'referencePoints2': flat(ref2), 'referencePoints4': flat(ref4), 'paddingMask': mask.reshape(-1).int().tolist(),
        'output2': flat(out2), 'output4': flat(out4),
    })


def init_bias(M, L, P):
    """The official sampling_offsets bias init, in float32 as upstream computes it."""
    thetas = torch.arange(M, dtype=torch.float32) * (2.0 * math.pi / M)
    grid = torch.stack([thetas.cos(), thetas.sin()], -1)
    grid = (grid / grid.abs().max(-1, keepdim=True)[0]).view(M, 1, 1, 2).repeat(1, L, P, 1)
    for i in range(P):
        grid[:, :, i, :] *= i + 1
    return grid.view(-1)


if __name__ == '__main__':
    op_case('tiny', N=1, M=2, D=2, Lq=2, shapes=[(6, 4), (3, 2)], P=2, seed=0, value_scale=0.01)
    for D in (30, 32, 64, 71):
        op_case('d%d' % D, N=1, M=2, D=D, Lq=3, shapes=[(6, 4), (3, 2)], P=2, seed=D)
    op_case('far', N=1, M=2, D=4, Lq=5, shapes=[(6, 4), (3, 2)], P=3, seed=1, loc_low=-0.7, loc_high=1.7, far=True)
    op_case('batch2', N=2, M=3, D=5, Lq=4, shapes=[(5, 7), (3, 4), (2, 2)], P=2, seed=2, loc_low=-0.1, loc_high=1.1)
    op_case('level1x1', N=1, M=2, D=3, Lq=4, shapes=[(4, 5), (1, 1), (2, 3)], P=4, seed=3, loc_low=-0.6, loc_high=1.6)
    module_case(4)
    write('init_bias', {'M': 8, 'L': 4, 'P': 4, 'bias': init_bias(8, 4, 4).tolist()})
