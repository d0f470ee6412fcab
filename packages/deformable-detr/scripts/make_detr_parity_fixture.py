"""Builds a small PyTorch DETR with the official implementation's module structure and state_dict key names
(facebookresearch/detr: models/detr.py, transformer.py, backbone.py, position_encoding.py), with seeded
random weights, and saves:

  test/fixtures/parity-detr.pth   the state_dict (float32), as torch.save writes it
  test/fixtures/parity-detr.json  the configuration, the input batch (NCHW), its padding mask, pred_logits,
                                  pred_boxes and every auxiliary decoder layer's (aux_outputs)

DETR as upstream: the backbone's C5 only, a 1x1 input_proj, the sine embedding WITHOUT Deformable DETR's -0.5
shift, torch's nn.MultiheadAttention in post-norm encoder/decoder layers (positions added to queries and keys
only), no encoder norm, a shared decoder norm applied to every intermediate output, learned query_embed as the
query positions with a zero target, class_embed over num_classes + 1 ("no object") and a 3-layer bbox MLP.
The weights are rounded to float32 before the float64 forward pass, so the fixture is exact for what the
.pth holds; the TypeScript test compares at 1e-4.
Run with Debian's torch: /usr/bin/python3 scripts/make_detr_parity_fixture.py (from packages/deformable-detr).
"""
import copy
import json
import os

import torch
import torch.nn.functional as F
from torch import nn

import math

from make_parity_fixtures import MLP, OUT, Backbone, nested, sine_position_embedding

torch.set_default_dtype(torch.float64)


class EncoderLayer(nn.Module):
    """TransformerEncoderLayer.forward_post (normalize_before=False)."""

    def __init__(self, d, nheads, dim_feedforward):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d, nheads)
        self.linear1 = nn.Linear(d, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d)
        self.norm1 = nn.LayerNorm(d)
        self.norm2 = nn.LayerNorm(d)

    def forward(self, src, key_padding_mask, pos):
        q = k = src + pos
        src = self.norm1(src + self.self_attn(q, k, value=src, key_padding_mask=key_padding_mask)[0])
        return self.norm2(src + self.linear2(F.relu(self.linear1(src))))


class DecoderLayer(nn.Module):
    """TransformerDecoderLayer.forward_post: self-attention, cross-attention to memory, FFN, each post-norm."""

    def __init__(self, d, nheads, dim_feedforward):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d, nheads)
        self.multihead_attn = nn.MultiheadAttention(d, nheads)
        self.linear1 = nn.Linear(d, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d)
        self.norm1 = nn.LayerNorm(d)
        self.norm2 = nn.LayerNorm(d)
        self.norm3 = nn.LayerNorm(d)

    def forward(self, tgt, memory, memory_key_padding_mask, pos, query_pos):
        q = k = tgt + query_pos
        tgt = self.norm1(tgt + self.self_attn(q, k, value=tgt)[0])
        cross = self.multihead_attn(query=tgt + query_pos, key=memory + pos, value=memory,
                                    key_padding_mask=memory_key_padding_mask)[0]
        tgt = self.norm2(tgt + cross)
        return self.norm3(tgt + self.linear2(F.relu(self.linear1(tgt))))


class Encoder(nn.Module):
    def __init__(self, layer, num_layers):
        super().__init__()
        self.layers = nn.ModuleList(copy.deepcopy(layer) for _ in range(num_layers))


class Decoder(nn.Module):
    def __init__(self, layer, num_layers, d):
        super().__init__()
        self.layers = nn.ModuleList(copy.deepcopy(layer) for _ in range(num_layers))
        self.norm = nn.LayerNorm(d)


class Transformer(nn.Module):
    """DETR's Transformer with return_intermediate_dec=True: hs is every decoder layer's normed output."""

    def __init__(self, d, nheads, enc_layers, dec_layers, dim_feedforward):
        super().__init__()
        self.encoder = Encoder(EncoderLayer(d, nheads, dim_feedforward), enc_layers)
        self.decoder = Decoder(DecoderLayer(d, nheads, dim_feedforward), dec_layers, d)
        self.d_model = d

    def forward(self, src, mask, query_embed, pos_embed):
        bs = src.shape[0]
        src = src.flatten(2).permute(2, 0, 1)  # HW x N x C
        pos_embed = pos_embed.flatten(2).permute(2, 0, 1)
        query_embed = query_embed.unsqueeze(1).repeat(1, bs, 1)
        mask = mask.flatten(1)
        memory = src
        for layer in self.encoder.layers:
            memory = layer(memory, mask, pos_embed)
        output = torch.zeros_like(query_embed)
        intermediate = []
        for layer in self.decoder.layers:
            output = layer(output, memory, mask, pos_embed, query_embed)
            intermediate.append(self.decoder.norm(output))
        return torch.stack(intermediate).transpose(1, 2)  # layers x N x Q x C


class DETR(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg['hidden_dim']
        # Joiner(backbone, position_embedding): the backbone is child "0"; the embedding has no parameters.
        self.backbone = nn.ModuleList([Backbone(cfg['backbone_width'], False)])
        self.transformer = Transformer(d, cfg['nheads'], cfg['enc_layers'], cfg['dec_layers'], cfg['dim_feedforward'])
        self.class_embed = nn.Linear(d, cfg['num_classes'] + 1)
        self.bbox_embed = MLP(d, d, 4, 3)
        self.query_embed = nn.Embedding(cfg['num_queries'], d)
        self.input_proj = nn.Conv2d(self.backbone[0].num_channels[-1], d, kernel_size=1)

    def forward(self, images, mask):
        feats, masks = self.backbone[0](images, mask)
        src, m = feats[-1], masks[-1]
        pos = sine_position_embedding(m, self.transformer.d_model // 2, offset=0)
        hs = self.transformer(self.input_proj(src), m, self.query_embed.weight, pos)
        outputs_class = self.class_embed(hs)
        outputs_coord = self.bbox_embed(hs).sigmoid()
        return {'pred_logits': outputs_class[-1], 'pred_boxes': outputs_coord[-1],
                'aux_logits': list(outputs_class[:-1]), 'aux_boxes': list(outputs_coord[:-1])}


def randomize(model, gen):
    """Every parameter and buffer random but well scaled, so activations stay O(1) through the backbone and
    every query's output differs clearly (with exploding features or flat attention the queries come out
    nearly identical and a query-mixing bug would hide below the tolerance). Rounded to float32, what the
    .pth holds."""
    with torch.no_grad():
        for name, t in model.state_dict().items():
            r = torch.randn(t.shape, generator=gen)
            if name.endswith('running_var'):
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)
            elif name == 'query_embed.weight':
                t.copy_(r)  # nn.Embedding's N(0, 1)
            elif t.dim() > 1:
                fan_in = t[0].numel()
                gain = 3 if name.endswith('in_proj_weight') else 1.4  # peaked attention; ReLU keeps the scale
                t.copy_(r * gain / math.sqrt(fan_in))
            elif name.endswith('norm1.weight') or name.endswith('norm2.weight') or name.endswith('norm3.weight') \
                    or name.endswith('norm.weight') or name.endswith('bn1.weight') or name.endswith('bn2.weight') \
                    or name.endswith('downsample.1.weight'):
                t.copy_(1 + 0.3 * r)
            else:
                t.copy_(0.2 * r)
            t.copy_(t.float().double())


CONFIG = {
    'backbone_width': 4, 'hidden_dim': 32, 'nheads': 4, 'enc_layers': 2, 'dec_layers': 3, 'dim_feedforward': 64,
    'num_queries': 10, 'num_classes': 5,
    # C5 of 96 x 80 is 3 x 3; the second image's valid 72 x 48 leaves padding at C5 too.
    'image_size': [96, 80], 'second_image_valid': [72, 48],
}

if __name__ == '__main__':
    os.makedirs(OUT, exist_ok=True)
    cfg = CONFIG
    gen = torch.Generator().manual_seed(17)
    model = DETR(cfg)
    randomize(model, gen)
    model.eval()
    n, (h, w) = 2, cfg['image_size']
    # Inputs on a 1/8 grid: exact in float32 and short in JSON.
    images = torch.round(torch.randn(n, 3, h, w, generator=gen) * 8) / 8
    mask = torch.zeros(n, h, w, dtype=torch.bool)
    vh, vw = cfg['second_image_valid']
    mask[1, vh:, :] = True
    mask[1, :, vw:] = True
    images[1][:, mask[1]] = 0
    with torch.no_grad():
        out = model(images, mask)
    state = {k: v.float() for k, v in model.state_dict().items()}
    torch.save(state, os.path.join(OUT, 'parity-detr.pth'))
    record = {
        'variant': 'detr',
        'config': cfg,
        'images_nchw': nested(images.float()),
        'mask': nested(mask.int()),
        'pred_logits': nested(out['pred_logits'].float()),
        'pred_boxes': nested(out['pred_boxes'].float()),
        'aux_logits': [nested(t.float()) for t in out['aux_logits']],
        'aux_boxes': [nested(t.float()) for t in out['aux_boxes']],
        'state_dict_keys': {k: list(v.shape) for k, v in state.items()},
    }
    with open(os.path.join(OUT, 'parity-detr.json'), 'w') as f:
        json.dump(record, f)
    print('detr keys', len(state), 'params', sum(v.numel() for v in state.values()))
