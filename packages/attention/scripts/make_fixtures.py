"""Golden values for @deformjs/attention from a float64 PyTorch port of mmcv's GeneralizedAttention.

Run with Debian's interpreter (torch 1.13):  /usr/bin/python3 scripts/make_fixtures.py
Writes test/fixtures/generalized_attention.json. Tensors are stored in PyTorch layouts (NCHW input, OIHW
convs, (out, in) linears); outputs and gradients are converted to NHWC / our layouts by the test.

The port follows mmcv/cnn/bricks/generalized_attention.py (mmcv 2.x) branch for branch. The one change: mmcv
builds its spatial-range mask for a fixed max_len (84 for 256 channels, 42 for 512, anything else fails);
here max_len is the input's larger side, which gives the same mask entries after mmcv's [:h, :w, :h_kv, :w_kv]
slice.
"""
import json
import math
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)


class GeneralizedAttention(nn.Module):
    def __init__(self, in_channels, spatial_range=-1, num_heads=9, position_embedding_dim=-1,
                 position_magnitude=1, kv_stride=2, q_stride=1, attention_type='1111', max_len=84):
        super().__init__()
        self.position_embedding_dim = position_embedding_dim if position_embedding_dim > 0 else in_channels
        self.position_magnitude = position_magnitude
        self.num_heads = num_heads
        self.in_channels = in_channels
        self.spatial_range = spatial_range
        self.kv_stride = kv_stride
        self.q_stride = q_stride
        self.attention_type = [bool(int(_)) for _ in attention_type]
        self.qk_embed_dim = in_channels // num_heads
        out_c = self.qk_embed_dim * num_heads
        if self.attention_type[0] or self.attention_type[1]:
            self.query_conv = nn.Conv2d(in_channels, out_c, 1, bias=False)
        if self.attention_type[0] or self.attention_type[2]:
            self.key_conv = nn.Conv2d(in_channels, out_c, 1, bias=False)
        self.v_dim = in_channels // num_heads
        self.value_conv = nn.Conv2d(in_channels, self.v_dim * num_heads, 1, bias=False)
        if self.attention_type[1] or self.attention_type[3]:
            self.appr_geom_fc_x = nn.Linear(self.position_embedding_dim // 2, out_c, bias=False)
            self.appr_geom_fc_y = nn.Linear(self.position_embedding_dim // 2, out_c, bias=False)
        if self.attention_type[2]:
            stdv = 1.0 / math.sqrt(self.qk_embed_dim * 2)
            self.appr_bias = nn.Parameter(-2 * stdv * torch.rand(out_c) + stdv)
        if self.attention_type[3]:
            stdv = 1.0 / math.sqrt(self.qk_embed_dim * 2)
            self.geom_bias = nn.Parameter(-2 * stdv * torch.rand(out_c) + stdv)
        self.proj_conv = nn.Conv2d(self.v_dim * num_heads, in_channels, 1, bias=True)
        self.gamma = nn.Parameter(torch.zeros(1))
        if self.spatial_range >= 0:
            max_len_kv = int((max_len - 1.0) / self.kv_stride + 1)
            m = np.ones((max_len, max_len, max_len_kv, max_len_kv), dtype=int)
            for iy in range(max_len):
                for ix in range(max_len):
                    m[iy, ix,
                      max((iy - self.spatial_range) // self.kv_stride, 0):
                      min((iy + self.spatial_range + 1) // self.kv_stride + 1, max_len),
                      max((ix - self.spatial_range) // self.kv_stride, 0):
                      min((ix + self.spatial_range + 1) // self.kv_stride + 1, max_len)] = 0
            self.local_constraint_map = nn.Parameter(torch.from_numpy(m).byte(), requires_grad=False)
        self.q_downsample = nn.AvgPool2d(kernel_size=1, stride=q_stride) if q_stride > 1 else None
        self.kv_downsample = nn.AvgPool2d(kernel_size=1, stride=kv_stride) if kv_stride > 1 else None

    def get_position_embedding(self, h, w, h_kv, w_kv, q_stride, kv_stride, dtype, feat_dim, wave_length=1000):
        h_idxs = torch.linspace(0, h - 1, h, dtype=dtype).view((h, 1)) * q_stride
        w_idxs = torch.linspace(0, w - 1, w, dtype=dtype).view((w, 1)) * q_stride
        h_kv_idxs = torch.linspace(0, h_kv - 1, h_kv, dtype=dtype).view((h_kv, 1)) * kv_stride
        w_kv_idxs = torch.linspace(0, w_kv - 1, w_kv, dtype=dtype).view((w_kv, 1)) * kv_stride
        h_diff = (h_idxs.unsqueeze(1) - h_kv_idxs.unsqueeze(0)) * self.position_magnitude
        w_diff = (w_idxs.unsqueeze(1) - w_kv_idxs.unsqueeze(0)) * self.position_magnitude
        feat_range = torch.arange(0, feat_dim / 4, dtype=dtype)
        dim_mat = torch.tensor([wave_length], dtype=dtype) ** ((4.0 / feat_dim) * feat_range)
        dim_mat = dim_mat.view((1, 1, -1))
        embedding_x = torch.cat(((w_diff / dim_mat).sin(), (w_diff / dim_mat).cos()), dim=2)
        embedding_y = torch.cat(((h_diff / dim_mat).sin(), (h_diff / dim_mat).cos()), dim=2)
        return embedding_x, embedding_y

    def forward(self, x_input):
        num_heads = self.num_heads
        x_q = self.q_downsample(x_input) if self.q_downsample is not None else x_input
        n, _, h, w = x_q.shape
        x_kv = self.kv_downsample(x_input) if self.kv_downsample is not None else x_input
        _, _, h_kv, w_kv = x_kv.shape
        at = self.attention_type
        d = self.qk_embed_dim
        if at[0] or at[1]:
            proj_query = self.query_conv(x_q).view((n, num_heads, d, h * w)).permute(0, 1, 3, 2)
        if at[0] or at[2]:
            proj_key = self.key_conv(x_kv).view((n, num_heads, d, h_kv * w_kv))
        if at[1] or at[3]:
            pe_x, pe_y = self.get_position_embedding(h, w, h_kv, w_kv, self.q_stride, self.kv_stride,
                                                     x_input.dtype, self.position_embedding_dim)
            position_feat_x = self.appr_geom_fc_x(pe_x).view(1, w, w_kv, num_heads, d).permute(0, 3, 1, 2, 4).repeat(n, 1, 1, 1, 1)
            position_feat_y = self.appr_geom_fc_y(pe_y).view(1, h, h_kv, num_heads, d).permute(0, 3, 1, 2, 4).repeat(n, 1, 1, 1, 1)
            position_feat_x = position_feat_x / math.sqrt(2)
            position_feat_y = position_feat_y / math.sqrt(2)
        if (np.sum(at) == 1) and at[2]:
            appr_bias = self.appr_bias.view(1, num_heads, 1, d).repeat(n, 1, 1, 1)
            energy = torch.matmul(appr_bias, proj_key).view(n, num_heads, 1, h_kv * w_kv)
            h = 1
            w = 1
        else:
            if not at[0]:
                energy = torch.zeros(n, num_heads, h, w, h_kv, w_kv, dtype=x_input.dtype)
            if at[0] or at[2]:
                if at[0] and at[2]:
                    appr_bias = self.appr_bias.view(1, num_heads, 1, d)
                    energy = torch.matmul(proj_query + appr_bias, proj_key).view(n, num_heads, h, w, h_kv, w_kv)
                elif at[0]:
                    energy = torch.matmul(proj_query, proj_key).view(n, num_heads, h, w, h_kv, w_kv)
                elif at[2]:
                    appr_bias = self.appr_bias.view(1, num_heads, 1, d).repeat(n, 1, 1, 1)
                    energy = energy + torch.matmul(appr_bias, proj_key).view(n, num_heads, 1, 1, h_kv, w_kv)
            if at[1] or at[3]:
                if at[1] and at[3]:
                    geom_bias = self.geom_bias.view(1, num_heads, 1, d)
                    q = (proj_query + geom_bias).view(n, num_heads, h, w, d)
                    energy_x = torch.matmul(q.permute(0, 1, 3, 2, 4), position_feat_x.permute(0, 1, 2, 4, 3))
                    energy_x = energy_x.permute(0, 1, 3, 2, 4).unsqueeze(4)
                    energy_y = torch.matmul(q, position_feat_y.permute(0, 1, 2, 4, 3)).unsqueeze(5)
                    energy = energy + energy_x + energy_y
                elif at[1]:
                    q = proj_query.view(n, num_heads, h, w, d).permute(0, 1, 3, 2, 4)
                    energy_x = torch.matmul(q, position_feat_x.permute(0, 1, 2, 4, 3))
                    energy_x = energy_x.permute(0, 1, 3, 2, 4).unsqueeze(4)
                    energy_y = torch.matmul(proj_query.view(n, num_heads, h, w, d),
                                            position_feat_y.permute(0, 1, 2, 4, 3)).unsqueeze(5)
                    energy = energy + energy_x + energy_y
                elif at[3]:
                    geom_bias = self.geom_bias.view(1, num_heads, d, 1).repeat(n, 1, 1, 1)
                    px = position_feat_x.reshape(n, num_heads, w * w_kv, d)
                    py = position_feat_y.reshape(n, num_heads, h * h_kv, d)
                    energy_x = torch.matmul(px, geom_bias).view(n, num_heads, 1, w, 1, w_kv)
                    energy_y = torch.matmul(py, geom_bias).view(n, num_heads, h, 1, h_kv, 1)
                    energy = energy + energy_x + energy_y
            energy = energy.view(n, num_heads, h * w, h_kv * w_kv)
        if self.spatial_range >= 0:
            cur = self.local_constraint_map[:h, :w, :h_kv, :w_kv].contiguous().view(1, 1, h * w, h_kv * w_kv)
            energy = energy.masked_fill(cur.bool(), float('-inf'))
        attention = F.softmax(energy, 3)
        proj_value = self.value_conv(x_kv)
        proj_value_reshape = proj_value.view((n, num_heads, self.v_dim, h_kv * w_kv)).permute(0, 1, 3, 2)
        out = torch.matmul(attention, proj_value_reshape).permute(0, 1, 3, 2).contiguous().view(n, self.v_dim * self.num_heads, h, w)
        out = self.proj_conv(out)
        if self.q_downsample is not None:
            out = F.interpolate(out, size=x_input.shape[2:], mode='bilinear', align_corners=False)
        return self.gamma * out + x_input


def rounded(t):
    return [float('%.10g' % v) for v in t.detach().reshape(-1).tolist()]


def nhwc(t):
    return t.permute(0, 2, 3, 1)


CASES = [
    dict(name='1111', attention_type='1111', in_channels=8, num_heads=2, kv_stride=2, n=2, h=5, w=6),
    dict(name='0010', attention_type='0010', in_channels=8, num_heads=2, kv_stride=2, n=2, h=5, w=6),
    dict(name='0100 kv_stride 1', attention_type='0100', in_channels=8, num_heads=2, kv_stride=1, n=1, h=4, w=5),
    dict(name='1001 spatial_range 1', attention_type='1001', in_channels=8, num_heads=2, kv_stride=2, n=1, h=6, w=5,
         spatial_range=1),
    dict(name='0001 magnitude 2, 3 heads of 3, embedding 8', attention_type='0001', in_channels=10, num_heads=3,
         kv_stride=2, n=2, h=4, w=4, position_magnitude=2, position_embedding_dim=8),
    dict(name='0101 q_stride 2', attention_type='0101', in_channels=8, num_heads=2, kv_stride=2, q_stride=2, n=1,
         h=6, w=5),
    dict(name='1010 kv_stride 3', attention_type='1010', in_channels=8, num_heads=4, kv_stride=3, n=1, h=7, w=5),
    dict(name='0110 spatial_range 0', attention_type='0110', in_channels=8, num_heads=2, kv_stride=1, n=1, h=4,
         w=4, spatial_range=0),
]


def make_case(case, seed):
    torch.manual_seed(seed)
    kwargs = {k: case[k] for k in ('attention_type', 'in_channels', 'num_heads', 'kv_stride', 'q_stride',
                                   'spatial_range', 'position_magnitude', 'position_embedding_dim') if k in case}
    n, h, w, c = case['n'], case['h'], case['w'], case['in_channels']
    module = GeneralizedAttention(max_len=max(h, w), **kwargs)
    params = {}
    for name, p in module.named_parameters():
        if name == 'local_constraint_map':
            continue
        with torch.no_grad():
            p.copy_(torch.randn_like(p) * 0.5)
        params[name] = p
    x = torch.randn(n, c, h, w, requires_grad=True)
    out = module(x)
    cotangent = torch.randn_like(out)
    (out * cotangent).sum().backward()
    return {
        'name': case['name'],
        'config': {k: v for k, v in case.items() if k not in ('name', 'n', 'h', 'w')},
        'input': {'shape': list(nhwc(x).shape), 'nhwc': rounded(nhwc(x))},
        'params': {k: {'shape': list(p.shape), 'torch': rounded(p)} for k, p in params.items()},
        'output': rounded(nhwc(out)),
        'cotangent': rounded(nhwc(cotangent)),
        'grad_input': rounded(nhwc(x.grad)),
        'grad_params': {k: rounded(p.grad) for k, p in params.items()},
    }


def main():
    out = [make_case(case, 100 + i) for i, case in enumerate(CASES)]
    path = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'generalized_attention.json')
    with open(path, 'w') as f:
        json.dump({'source': 'scripts/make_fixtures.py (float64 port of mmcv GeneralizedAttention)', 'cases': out}, f)
    print('wrote', path, os.path.getsize(path), 'bytes')


if __name__ == '__main__':
    main()
