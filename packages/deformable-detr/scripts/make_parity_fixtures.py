"""Builds small PyTorch Deformable DETR models with the official implementation's module structure and
state_dict key names (fundamentalvision/Deformable-DETR: models/deformable_detr.py,
deformable_transformer.py, backbone.py, position_encoding.py, ops/modules/ms_deform_attn.py), with seeded
random weights, and saves for each variant:

  test/fixtures/parity-<variant>.pth   the state_dict, as torch.save writes it
  test/fixtures/parity-<variant>.json  the configuration, the input batch (NCHW), its padding mask, and the
                                       last decoder layer's pred_logits / pred_boxes (and the encoder's
                                       proposals for two-stage)

The code is written from the published structure; multi-scale deformable attention uses the pure PyTorch
grid_sample reference. Everything is float64 so the fixture is exact; the TypeScript test compares at 1e-4.
Run with Debian's torch: /usr/bin/python3 scripts/make_parity_fixtures.py (from packages/deformable-detr).
"""
import copy
import json
import math
import os

import torch
import torch.nn.functional as F
from torch import nn

torch.set_default_dtype(torch.float64)
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, '..', 'test', 'fixtures')


# ---------------------------------------------------------------- backbone (torchvision ResNet-18 key names)
class FrozenBatchNorm2d(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.register_buffer('weight', torch.ones(n))
        self.register_buffer('bias', torch.zeros(n))
        self.register_buffer('running_mean', torch.zeros(n))
        self.register_buffer('running_var', torch.ones(n))

    def forward(self, x):
        scale = self.weight * (self.running_var + 1e-5).rsqrt()
        bias = self.bias - self.running_mean * scale
        return x * scale.reshape(1, -1, 1, 1) + bias.reshape(1, -1, 1, 1)


class BasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = FrozenBatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = FrozenBatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), FrozenBatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)


class ResNet18Body(nn.Module):
    """torchvision's resnet18 with every width divided by `64 // width` (width 64 is the real one)."""

    def __init__(self, width):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = FrozenBatchNorm2d(width)
        widths = [width, width * 2, width * 4, width * 8]
        inplanes = width
        for i, planes in enumerate(widths):
            stride = 1 if i == 0 else 2
            setattr(self, f'layer{i + 1}', nn.Sequential(BasicBlock(inplanes, planes, stride), BasicBlock(planes, planes, 1)))
            inplanes = planes
        self.num_channels = widths[1:]

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        x = self.layer1(x)
        c3 = self.layer2(x)
        c4 = self.layer3(c3)
        c5 = self.layer4(c4)
        return [c3, c4, c5]


class Backbone(nn.Module):
    """Multi-scale models take C3, C4, C5 (return_interm_layers); single-scale ones only C5."""

    def __init__(self, width, return_interm_layers):
        super().__init__()
        self.body = ResNet18Body(width)
        self.return_interm_layers = return_interm_layers
        self.num_channels = self.body.num_channels if return_interm_layers else self.body.num_channels[-1:]

    def forward(self, x, mask):
        feats = self.body(x)
        if not self.return_interm_layers:
            feats = feats[-1:]
        masks = [F.interpolate(mask[None].double(), size=f.shape[-2:]).to(torch.bool)[0] for f in feats]
        return feats, masks


def sine_position_embedding(mask, num_pos_feats, temperature=10000, offset=-0.5):
    """PositionEmbeddingSine(normalize=True): Deformable DETR's shifts the cumulative positions by -0.5, DETR's
    (offset 0) does not."""
    scale = 2 * math.pi
    not_mask = ~mask
    y_embed = not_mask.cumsum(1, dtype=torch.float64)
    x_embed = not_mask.cumsum(2, dtype=torch.float64)
    eps = 1e-6
    y_embed = (y_embed + offset) / (y_embed[:, -1:, :] + eps) * scale
    x_embed = (x_embed + offset) / (x_embed[:, :, -1:] + eps) * scale
    dim_t = torch.arange(num_pos_feats, dtype=torch.float64)
    dim_t = temperature ** (2 * torch.div(dim_t, 2, rounding_mode='floor') / num_pos_feats)
    pos_x = x_embed[:, :, :, None] / dim_t
    pos_y = y_embed[:, :, :, None] / dim_t
    pos_x = torch.stack((pos_x[:, :, :, 0::2].sin(), pos_x[:, :, :, 1::2].cos()), dim=4).flatten(3)
    pos_y = torch.stack((pos_y[:, :, :, 0::2].sin(), pos_y[:, :, :, 1::2].cos()), dim=4).flatten(3)
    return torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2)


# ---------------------------------------------------------------- multi-scale deformable attention
def ms_deform_attn_core_pytorch(value, value_spatial_shapes, sampling_locations, attention_weights):
    N_, S_, M_, D_ = value.shape
    _, Lq_, M_, L_, P_, _ = sampling_locations.shape
    value_list = value.split([H_ * W_ for H_, W_ in value_spatial_shapes], dim=1)
    sampling_grids = 2 * sampling_locations - 1
    sampling_value_list = []
    for lid_, (H_, W_) in enumerate(value_spatial_shapes):
        value_l_ = value_list[lid_].flatten(2).transpose(1, 2).reshape(N_ * M_, D_, H_, W_)
        sampling_grid_l_ = sampling_grids[:, :, :, lid_].transpose(1, 2).flatten(0, 1)
        sampling_value_l_ = F.grid_sample(value_l_, sampling_grid_l_, mode='bilinear', padding_mode='zeros', align_corners=False)
        sampling_value_list.append(sampling_value_l_)
    attention_weights = attention_weights.transpose(1, 2).reshape(N_ * M_, 1, Lq_, L_ * P_)
    output = (torch.stack(sampling_value_list, dim=-2).flatten(-2) * attention_weights).sum(-1).view(N_, M_ * D_, Lq_)
    return output.transpose(1, 2).contiguous()


class MSDeformAttn(nn.Module):
    def __init__(self, d_model, n_levels, n_heads, n_points):
        super().__init__()
        self.d_model, self.n_levels, self.n_heads, self.n_points = d_model, n_levels, n_heads, n_points
        self.sampling_offsets = nn.Linear(d_model, n_heads * n_levels * n_points * 2)
        self.attention_weights = nn.Linear(d_model, n_heads * n_levels * n_points)
        self.value_proj = nn.Linear(d_model, d_model)
        self.output_proj = nn.Linear(d_model, d_model)

    def forward(self, query, reference_points, input_flatten, input_spatial_shapes, input_padding_mask):
        N, Len_q, _ = query.shape
        N, Len_in, _ = input_flatten.shape
        value = self.value_proj(input_flatten)
        value = value.masked_fill(input_padding_mask[..., None], float(0))
        value = value.view(N, Len_in, self.n_heads, self.d_model // self.n_heads)
        sampling_offsets = self.sampling_offsets(query).view(N, Len_q, self.n_heads, self.n_levels, self.n_points, 2)
        attention_weights = self.attention_weights(query).view(N, Len_q, self.n_heads, self.n_levels * self.n_points)
        attention_weights = F.softmax(attention_weights, -1).view(N, Len_q, self.n_heads, self.n_levels, self.n_points)
        shapes = torch.tensor(input_spatial_shapes, dtype=torch.float64)
        if reference_points.shape[-1] == 2:
            offset_normalizer = torch.stack([shapes[..., 1], shapes[..., 0]], -1)
            sampling_locations = reference_points[:, :, None, :, None, :] + sampling_offsets / offset_normalizer[None, None, None, :, None, :]
        else:
            sampling_locations = reference_points[:, :, None, :, None, :2] + sampling_offsets / self.n_points * reference_points[:, :, None, :, None, 2:] * 0.5
        output = ms_deform_attn_core_pytorch(value, input_spatial_shapes, sampling_locations, attention_weights)
        return self.output_proj(output)


# ---------------------------------------------------------------- deformable transformer
def _get_clones(module, n):
    return nn.ModuleList([copy.deepcopy(module) for _ in range(n)])


def inverse_sigmoid(x, eps=1e-5):
    x = x.clamp(min=0, max=1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))


class EncoderLayer(nn.Module):
    def __init__(self, d_model, d_ffn, n_levels, n_heads, n_points):
        super().__init__()
        self.self_attn = MSDeformAttn(d_model, n_levels, n_heads, n_points)
        self.dropout1 = nn.Dropout(0.1)
        self.norm1 = nn.LayerNorm(d_model)
        self.linear1 = nn.Linear(d_model, d_ffn)
        self.dropout2 = nn.Dropout(0.1)
        self.linear2 = nn.Linear(d_ffn, d_model)
        self.dropout3 = nn.Dropout(0.1)
        self.norm2 = nn.LayerNorm(d_model)

    def forward(self, src, pos, reference_points, spatial_shapes, padding_mask):
        src = self.norm1(src + self.dropout1(self.self_attn(src + pos, reference_points, src, spatial_shapes, padding_mask)))
        return self.norm2(src + self.dropout3(self.linear2(self.dropout2(F.relu(self.linear1(src))))))


class Encoder(nn.Module):
    def __init__(self, layer, num_layers):
        super().__init__()
        self.layers = _get_clones(layer, num_layers)

    @staticmethod
    def get_reference_points(spatial_shapes, valid_ratios):
        refs = []
        for lvl, (H_, W_) in enumerate(spatial_shapes):
            ref_y, ref_x = torch.meshgrid(torch.linspace(0.5, H_ - 0.5, H_), torch.linspace(0.5, W_ - 0.5, W_), indexing='ij')
            ref_y = ref_y.reshape(-1)[None] / (valid_ratios[:, None, lvl, 1] * H_)
            ref_x = ref_x.reshape(-1)[None] / (valid_ratios[:, None, lvl, 0] * W_)
            refs.append(torch.stack((ref_x, ref_y), -1))
        reference_points = torch.cat(refs, 1)
        return reference_points[:, :, None] * valid_ratios[:, None]

    def forward(self, src, spatial_shapes, valid_ratios, pos, padding_mask):
        reference_points = self.get_reference_points(spatial_shapes, valid_ratios)
        for layer in self.layers:
            src = layer(src, pos, reference_points, spatial_shapes, padding_mask)
        return src


class DecoderLayer(nn.Module):
    def __init__(self, d_model, d_ffn, n_levels, n_heads, n_points):
        super().__init__()
        self.cross_attn = MSDeformAttn(d_model, n_levels, n_heads, n_points)
        self.dropout1 = nn.Dropout(0.1)
        self.norm1 = nn.LayerNorm(d_model)
        self.self_attn = nn.MultiheadAttention(d_model, n_heads, dropout=0.1)
        self.dropout2 = nn.Dropout(0.1)
        self.norm2 = nn.LayerNorm(d_model)
        self.linear1 = nn.Linear(d_model, d_ffn)
        self.dropout3 = nn.Dropout(0.1)
        self.linear2 = nn.Linear(d_ffn, d_model)
        self.dropout4 = nn.Dropout(0.1)
        self.norm3 = nn.LayerNorm(d_model)

    def forward(self, tgt, query_pos, reference_points, src, spatial_shapes, padding_mask):
        q = k = tgt + query_pos
        tgt2 = self.self_attn(q.transpose(0, 1), k.transpose(0, 1), tgt.transpose(0, 1))[0].transpose(0, 1)
        tgt = self.norm2(tgt + self.dropout2(tgt2))
        tgt2 = self.cross_attn(tgt + query_pos, reference_points, src, spatial_shapes, padding_mask)
        tgt = self.norm1(tgt + self.dropout1(tgt2))
        return self.norm3(tgt + self.dropout4(self.linear2(self.dropout3(F.relu(self.linear1(tgt))))))


class Decoder(nn.Module):
    def __init__(self, layer, num_layers):
        super().__init__()
        self.layers = _get_clones(layer, num_layers)
        self.num_layers = num_layers
        self.bbox_embed = None
        self.class_embed = None

    def forward(self, tgt, reference_points, src, spatial_shapes, valid_ratios, query_pos, padding_mask):
        output = tgt
        intermediate, intermediate_reference_points = [], []
        for lid, layer in enumerate(self.layers):
            if reference_points.shape[-1] == 4:
                reference_points_input = reference_points[:, :, None] * torch.cat([valid_ratios, valid_ratios], -1)[:, None]
            else:
                reference_points_input = reference_points[:, :, None] * valid_ratios[:, None]
            output = layer(output, query_pos, reference_points_input, src, spatial_shapes, padding_mask)
            if self.bbox_embed is not None:
                tmp = self.bbox_embed[lid](output)
                if reference_points.shape[-1] == 4:
                    new_reference_points = (tmp + inverse_sigmoid(reference_points)).sigmoid()
                else:
                    new_reference_points = tmp.clone()
                    new_reference_points[..., :2] = tmp[..., :2] + inverse_sigmoid(reference_points)
                    new_reference_points = new_reference_points.sigmoid()
                reference_points = new_reference_points.detach()
            intermediate.append(output)
            intermediate_reference_points.append(reference_points)
        return torch.stack(intermediate), torch.stack(intermediate_reference_points)


class DeformableTransformer(nn.Module):
    def __init__(self, d_model, nhead, num_encoder_layers, num_decoder_layers, dim_feedforward, num_feature_levels,
                 dec_n_points, enc_n_points, two_stage, two_stage_num_proposals):
        super().__init__()
        self.d_model = d_model
        self.two_stage = two_stage
        self.two_stage_num_proposals = two_stage_num_proposals
        self.encoder = Encoder(EncoderLayer(d_model, dim_feedforward, num_feature_levels, nhead, enc_n_points), num_encoder_layers)
        self.decoder = Decoder(DecoderLayer(d_model, dim_feedforward, num_feature_levels, nhead, dec_n_points), num_decoder_layers)
        self.level_embed = nn.Parameter(torch.randn(num_feature_levels, d_model))
        if two_stage:
            self.enc_output = nn.Linear(d_model, d_model)
            self.enc_output_norm = nn.LayerNorm(d_model)
            self.pos_trans = nn.Linear(d_model * 2, d_model * 2)
            self.pos_trans_norm = nn.LayerNorm(d_model * 2)
        else:
            self.reference_points = nn.Linear(d_model, 2)

    def get_proposal_pos_embed(self, proposals):
        # The official code hard-codes 128 features (d_model 256); d_model / 2 is the same rule for any width.
        num_pos_feats = self.d_model // 2
        dim_t = torch.arange(num_pos_feats, dtype=torch.float64)
        dim_t = 10000 ** (2 * torch.div(dim_t, 2, rounding_mode='floor') / num_pos_feats)
        proposals = proposals.sigmoid() * 2 * math.pi
        pos = proposals[:, :, :, None] / dim_t
        return torch.stack((pos[:, :, :, 0::2].sin(), pos[:, :, :, 1::2].cos()), dim=4).flatten(2)

    def gen_encoder_output_proposals(self, memory, memory_padding_mask, spatial_shapes):
        N_, S_, C_ = memory.shape
        proposals = []
        _cur = 0
        for lvl, (H_, W_) in enumerate(spatial_shapes):
            mask_flatten_ = memory_padding_mask[:, _cur:(_cur + H_ * W_)].view(N_, H_, W_, 1)
            valid_H = torch.sum(~mask_flatten_[:, :, 0, 0], 1)
            valid_W = torch.sum(~mask_flatten_[:, 0, :, 0], 1)
            grid_y, grid_x = torch.meshgrid(torch.linspace(0, H_ - 1, H_), torch.linspace(0, W_ - 1, W_), indexing='ij')
            grid = torch.cat([grid_x.unsqueeze(-1), grid_y.unsqueeze(-1)], -1)
            scale = torch.cat([valid_W.unsqueeze(-1), valid_H.unsqueeze(-1)], 1).view(N_, 1, 1, 2)
            grid = (grid.unsqueeze(0).expand(N_, -1, -1, -1) + 0.5) / scale
            wh = torch.ones_like(grid) * 0.05 * (2.0 ** lvl)
            proposals.append(torch.cat((grid, wh), -1).view(N_, -1, 4))
            _cur += H_ * W_
        output_proposals = torch.cat(proposals, 1)
        output_proposals_valid = ((output_proposals > 0.01) & (output_proposals < 0.99)).all(-1, keepdim=True)
        output_proposals = torch.log(output_proposals / (1 - output_proposals))
        output_proposals = output_proposals.masked_fill(memory_padding_mask.unsqueeze(-1), float('inf'))
        output_proposals = output_proposals.masked_fill(~output_proposals_valid, float('inf'))
        output_memory = memory.masked_fill(memory_padding_mask.unsqueeze(-1), float(0))
        output_memory = output_memory.masked_fill(~output_proposals_valid, float(0))
        output_memory = self.enc_output_norm(self.enc_output(output_memory))
        return output_memory, output_proposals

    @staticmethod
    def get_valid_ratio(mask):
        _, H, W = mask.shape
        valid_H = torch.sum(~mask[:, :, 0], 1)
        valid_W = torch.sum(~mask[:, 0, :], 1)
        return torch.stack([valid_W.double() / W, valid_H.double() / H], -1)

    def forward(self, srcs, masks, pos_embeds, query_embed):
        src_flatten, mask_flatten, lvl_pos_embed_flatten, spatial_shapes = [], [], [], []
        for lvl, (src, mask, pos_embed) in enumerate(zip(srcs, masks, pos_embeds)):
            bs, c, h, w = src.shape
            spatial_shapes.append((h, w))
            src_flatten.append(src.flatten(2).transpose(1, 2))
            mask_flatten.append(mask.flatten(1))
            lvl_pos_embed_flatten.append(pos_embed.flatten(2).transpose(1, 2) + self.level_embed[lvl].view(1, 1, -1))
        src_flatten = torch.cat(src_flatten, 1)
        mask_flatten = torch.cat(mask_flatten, 1)
        lvl_pos_embed_flatten = torch.cat(lvl_pos_embed_flatten, 1)
        valid_ratios = torch.stack([self.get_valid_ratio(m) for m in masks], 1)
        memory = self.encoder(src_flatten, spatial_shapes, valid_ratios, lvl_pos_embed_flatten, mask_flatten)
        bs, _, c = memory.shape
        enc_outputs_class = enc_outputs_coord_unact = None
        if self.two_stage:
            output_memory, output_proposals = self.gen_encoder_output_proposals(memory, mask_flatten, spatial_shapes)
            enc_outputs_class = self.decoder.class_embed[self.decoder.num_layers](output_memory)
            enc_outputs_coord_unact = self.decoder.bbox_embed[self.decoder.num_layers](output_memory) + output_proposals
            topk_proposals = torch.topk(enc_outputs_class[..., 0], self.two_stage_num_proposals, dim=1)[1]
            topk_coords_unact = torch.gather(enc_outputs_coord_unact, 1, topk_proposals.unsqueeze(-1).repeat(1, 1, 4)).detach()
            reference_points = topk_coords_unact.sigmoid()
            pos_trans_out = self.pos_trans_norm(self.pos_trans(self.get_proposal_pos_embed(topk_coords_unact)))
            query_embed, tgt = torch.split(pos_trans_out, c, dim=2)
        else:
            query_embed, tgt = torch.split(query_embed, c, dim=1)
            query_embed = query_embed.unsqueeze(0).expand(bs, -1, -1)
            tgt = tgt.unsqueeze(0).expand(bs, -1, -1)
            reference_points = self.reference_points(query_embed).sigmoid()
        init_reference = reference_points
        hs, inter_references = self.decoder(tgt, reference_points, memory, spatial_shapes, valid_ratios, query_embed, mask_flatten)
        return hs, init_reference, inter_references, enc_outputs_class, enc_outputs_coord_unact


class MLP(nn.Module):
    def __init__(self, input_dim, hidden_dim, output_dim, num_layers):
        super().__init__()
        h = [hidden_dim] * (num_layers - 1)
        self.layers = nn.ModuleList(nn.Linear(n, k) for n, k in zip([input_dim] + h, h + [output_dim]))
        self.num_layers = num_layers

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = F.relu(layer(x)) if i < self.num_layers - 1 else layer(x)
        return x


class DeformableDETR(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg['hidden_dim']
        self.num_feature_levels = cfg['num_feature_levels']
        self.with_box_refine = cfg['with_box_refine']
        self.two_stage = cfg['two_stage']
        # Joiner(backbone, position_embedding): the backbone is child "0"; the embedding has no parameters.
        self.backbone = nn.ModuleList([Backbone(cfg['backbone_width'], self.num_feature_levels > 1)])
        self.transformer = DeformableTransformer(d, cfg['nheads'], cfg['enc_layers'], cfg['dec_layers'], cfg['dim_feedforward'],
                                                 self.num_feature_levels, cfg['dec_n_points'], cfg['enc_n_points'],
                                                 self.two_stage, cfg['num_queries'])
        class_embed = nn.Linear(d, cfg['num_classes'])
        bbox_embed = MLP(d, d, 4, 3)
        if not self.two_stage:
            self.query_embed = nn.Embedding(cfg['num_queries'], d * 2)
        num_channels = self.backbone[0].num_channels
        input_proj = []
        in_channels = num_channels[-1]
        for l in range(self.num_feature_levels):
            if l < len(num_channels):
                input_proj.append(nn.Sequential(nn.Conv2d(num_channels[l], d, 1), nn.GroupNorm(cfg.get('group_norm_groups', 32), d)))
            else:
                input_proj.append(nn.Sequential(nn.Conv2d(in_channels, d, 3, 2, 1), nn.GroupNorm(cfg.get('group_norm_groups', 32), d)))
                in_channels = d
        self.input_proj = nn.ModuleList(input_proj)
        num_pred = cfg['dec_layers'] + (1 if self.two_stage else 0)
        if self.with_box_refine:
            self.class_embed = _get_clones(class_embed, num_pred)
            self.bbox_embed = _get_clones(bbox_embed, num_pred)
            self.transformer.decoder.bbox_embed = self.bbox_embed
        else:
            self.class_embed = nn.ModuleList([class_embed for _ in range(num_pred)])
            self.bbox_embed = nn.ModuleList([bbox_embed for _ in range(num_pred)])
        if self.two_stage:
            self.transformer.decoder.class_embed = self.class_embed

    def forward(self, images, mask):
        feats, masks = self.backbone[0](images, mask)
        srcs, pos = [], []
        d = self.transformer.d_model
        for l, feat in enumerate(feats):
            srcs.append(self.input_proj[l](feat))
            pos.append(sine_position_embedding(masks[l], d // 2))
        for l in range(len(feats), self.num_feature_levels):
            src = self.input_proj[l](feats[-1] if l == len(feats) else srcs[-1])
            m = F.interpolate(mask[None].double(), size=src.shape[-2:]).to(torch.bool)[0]
            srcs.append(src)
            masks.append(m)
            pos.append(sine_position_embedding(m, d // 2))
        query_embeds = None if self.two_stage else self.query_embed.weight
        hs, init_reference, inter_references, enc_class, enc_coord_unact = self.transformer(srcs, masks, pos, query_embeds)
        outputs_classes, outputs_coords = [], []
        for lvl in range(hs.shape[0]):
            reference = inverse_sigmoid(init_reference if lvl == 0 else inter_references[lvl - 1])
            outputs_class = self.class_embed[lvl](hs[lvl])
            tmp = self.bbox_embed[lvl](hs[lvl])
            if reference.shape[-1] == 4:
                tmp = tmp + reference
            else:
                tmp = torch.cat([tmp[..., :2] + reference, tmp[..., 2:]], -1)
            outputs_classes.append(outputs_class)
            outputs_coords.append(tmp.sigmoid())
        out = {'pred_logits': outputs_classes[-1], 'pred_boxes': outputs_coords[-1],
               'aux_logits': outputs_classes[:-1], 'aux_boxes': outputs_coords[:-1]}
        if self.two_stage:
            out['enc_logits'] = enc_class
            out['enc_boxes'] = enc_coord_unact.sigmoid()
        return out


def randomize(model, gen):
    """Every parameter and buffer random (running_var positive), so no structure hides behind zeros."""
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith('running_var'):
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)
            elif name.endswith('sampling_offsets.weight') or name.endswith('attention_weights.weight'):
                t.copy_(torch.randn(t.shape, generator=gen) * 0.05)
            else:
                t.copy_(torch.randn(t.shape, generator=gen) * (1.0 / math.sqrt(max(1, t.shape[-1] if t.dim() > 1 else 4))))


def nested(x):
    return x.tolist()


def make(variant, cfg, seed):
    gen = torch.Generator().manual_seed(seed)
    model = DeformableDETR(cfg)
    randomize(model, gen)
    model.eval()
    n, h, w = 2, cfg['image_size'][0], cfg['image_size'][1]
    images = torch.randn(n, 3, h, w, generator=gen)
    mask = torch.zeros(n, h, w, dtype=torch.bool)
    # The second image is smaller, padded on the bottom and right like DETR's batches.
    vh, vw = cfg['second_image_valid']
    mask[1, vh:, :] = True
    mask[1, :, vw:] = True
    images[1][:, mask[1]] = 0
    with torch.no_grad():
        out = model(images, mask)
    state = {k: v.float() for k, v in model.state_dict().items()}
    torch.save(state, os.path.join(OUT, f'parity-{variant}.pth'))
    record = {
        'variant': variant,
        'config': cfg,
        'images_nchw': nested(images.float()),
        'mask': nested(mask.int()),
        'pred_logits': nested(out['pred_logits'].float()),
        'pred_boxes': nested(out['pred_boxes'].float()),
        'aux_logits': [nested(t.float()) for t in out['aux_logits']],
        'aux_boxes': [nested(t.float()) for t in out['aux_boxes']],
        'state_dict_keys': {k: list(v.shape) for k, v in state.items()},
    }
    if 'enc_logits' in out:
        record['enc_logits'] = nested(out['enc_logits'].float())
        record['enc_boxes'] = nested(out['enc_boxes'].float())
    with open(os.path.join(OUT, f'parity-{variant}.json'), 'w') as f:
        json.dump(record, f)
    print(variant, 'keys', len(state), 'params', sum(v.numel() for v in state.values()))


BASE = {
    'backbone_width': 4, 'hidden_dim': 32, 'nheads': 4, 'enc_layers': 2, 'dec_layers': 2, 'dim_feedforward': 64,
    'num_feature_levels': 4, 'enc_n_points': 2, 'dec_n_points': 2, 'num_queries': 12, 'num_classes': 5,
    'with_box_refine': False, 'two_stage': False, 'image_size': [48, 40], 'second_image_valid': [40, 28],
}

if __name__ == '__main__':
    os.makedirs(OUT, exist_ok=True)
    make('multiscale', dict(BASE), 1)
    make('single-scale', dict(BASE, num_feature_levels=1), 2)
    make('refine-two-stage', dict(BASE, with_box_refine=True, two_stage=True), 3)
