"""Makes the @deformjs/nn test fixtures with the PyTorch / torchvision references.
Run with /usr/bin/python3 from the package folder."""
import collections
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet
from torchvision.ops import FeaturePyramidNetwork
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

OUT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures')
os.makedirs(OUT, exist_ok=True)


def flat(t):
    return [round(float(v), 7) for v in t.detach().reshape(-1).double().tolist()]


def nhwc(t):
    return flat(t.permute(0, 2, 3, 1))


def state(module):
    return {k: {'shape': list(v.shape), 'values': flat(v)} for k, v in module.state_dict().items()}


def dump(name, obj):
    with open(os.path.join(OUT, name), 'w') as f:
        json.dump(obj, f, separators=(',', ':'))


# ---- ResNet-18 / ResNet-50 at reduced width, torchvision's structure and key names ----
class NarrowResNet(ResNet):
    """torchvision's ResNet with the base width 64 replaced by `width` (stem and every stage scaled)."""

    def __init__(self, block, layers, width):
        self.width = width
        super().__init__(block, layers)
        self.inplanes = width
        self.conv1 = torch.nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(width)
        self.fc = torch.nn.Linear(8 * width * block.expansion, 10)

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
        if planes == 64:
            self.inplanes = self.width
        return super()._make_layer(block, planes * self.width // 64, blocks, stride, dilate)

    def features(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        out = []
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = layer(x)
            out.append(x)
        return out


def resnet_fixture(name, block, layers, width, seed):
    torch.manual_seed(seed)
    model = NarrowResNet(block, layers, width)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
        # Stored as float16 to keep the fixture small; the reference runs on the same rounded values.
        for p in model.state_dict().values():
            if p.is_floating_point():
                p.copy_(p.half().float())
    model.eval()
    x = torch.randn(1, 3, 40, 48)
    with torch.no_grad():
        feats = model.features(x)
    sd = collections.OrderedDict((k, v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items())
    torch.save(sd, os.path.join(OUT, f'{name}.pth'))
    dump(f'{name}.json', {'input': nhwc(x), 'inputShape': [1, 40, 48, 3], 'features': {f'C{i + 2}': {'shape': list(f.permute(0, 2, 3, 1).shape), 'values': nhwc(f)} for i, f in enumerate(feats)}})


resnet_fixture('resnet18_w8', BasicBlock, [2, 2, 2, 2], 8, 0)
resnet_fixture('resnet50_w4', Bottleneck, [3, 4, 6, 3], 4, 1)

# ---- A dilated conv (ASPP's atrous conv): output and gradients ----
torch.manual_seed(2)
x = torch.randn(1, 3, 9, 10, requires_grad=True)
w = torch.randn(4, 3, 3, 3, requires_grad=True)
b = torch.randn(4, requires_grad=True)
y = F.conv2d(x, w, b, padding=2, dilation=2)
g = torch.randn_like(y)
(y * g).sum().backward()
dump('dilated_conv.json', {'x': nhwc(x), 'w': flat(w), 'b': flat(b), 'y': nhwc(y), 'g': nhwc(g), 'dx': nhwc(x.grad), 'dw': flat(w.grad), 'db': flat(b.grad)})

# ---- AdamW with parameter groups, grad-norm clipping and a warmup + cosine schedule ----
torch.manual_seed(3)
p0 = torch.nn.Parameter(torch.randn(3, 4))
p1 = torch.nn.Parameter(torch.randn(4))
p2 = torch.nn.Parameter(torch.randn(2, 2))
init = [flat(p) for p in (p0, p1, p2)]
xs = torch.randn(5, 3)
ts = torch.randn(5, 4)
opt = torch.optim.AdamW([{'params': [p0, p1], 'weight_decay': 1e-2, 'lr_scale': 1.0}, {'params': [p2], 'weight_decay': 0.0, 'lr_scale': 0.1}], lr=1e-2, betas=(0.9, 0.99), eps=1e-8)
base_lr, warmup, total = 1e-2, 3, 8
lrs, traj, norms = [], [], []
for step in range(total):
    if step < warmup:
        lr = base_lr * (0.1 + 0.9 * step / warmup)
    else:
        lr = 0.5 * base_lr * (1 + math.cos(math.pi * (step - warmup) / (total - warmup)))
    for group in opt.param_groups:
        group['lr'] = lr * group['lr_scale']
    lrs.append(lr)
    opt.zero_grad()
    loss = ((xs @ p0 + p1 - ts) ** 2).sum() + torch.sin(p2).sum() * 3
    loss.backward()
    norms.append(float(torch.nn.utils.clip_grad_norm_([p0, p1, p2], 2.0)))
    opt.step()
    traj.append([flat(p) for p in (p0, p1, p2)])
dump('adamw.json', {'init': init, 'x': flat(xs), 't': flat(ts), 'lrs': lrs, 'norms': norms, 'trajectory': traj, 'baseLr': base_lr, 'warmup': warmup, 'total': total})

# ---- Box ops: generalized IoU values and gradients ----
torch.manual_seed(5)
a = torch.rand(4, 4)
a = torch.cat([a[:, :2] * 0.5, a[:, :2] * 0.5 + 0.1 + a[:, 2:] * 0.5], 1).requires_grad_()
bb = torch.rand(3, 4)
bb = torch.cat([bb[:, :2] * 0.5, bb[:, :2] * 0.5 + 0.1 + bb[:, 2:] * 0.5], 1).requires_grad_()
giou = torchvision.ops.generalized_box_iou(a, bb)
iou = torchvision.ops.box_iou(a, bb)
gw = torch.randn_like(giou)
(giou * gw).sum().backward()
dump('giou.json', {'a': flat(a), 'b': flat(bb), 'giou': flat(giou), 'iou': flat(iou), 'g': flat(gw), 'da': flat(a.grad), 'db': flat(bb.grad)})

# ---- Transformer layers (post-norm, eval mode) ----
torch.manual_seed(6)
enc = torch.nn.TransformerEncoderLayer(16, 4, 32, dropout=0.1).eval()
dec = torch.nn.TransformerDecoderLayer(16, 4, 32, dropout=0.1).eval()
src = torch.randn(5, 2, 16)
pos = torch.randn(5, 2, 16)
tgt = torch.randn(3, 2, 16)
query_pos = torch.randn(3, 2, 16)
mask = torch.tensor([[False] * 5, [False, False, False, True, True]])
with torch.no_grad():
    enc_out = enc(src, src_key_padding_mask=mask)
    dec_out = dec(tgt, src, memory_key_padding_mask=mask)
    # DETR's layers add position embeddings to queries and keys (not values) with the same modules.
    q = src + pos
    s = enc.norm1(src + enc.self_attn(q, q, src, key_padding_mask=mask)[0])
    enc_detr = enc.norm2(s + enc.linear2(F.relu(enc.linear1(s))))
    q = tgt + query_pos
    t = dec.norm1(tgt + dec.self_attn(q, q, tgt)[0])
    t = dec.norm2(t + dec.multihead_attn(t + query_pos, src + pos, src, key_padding_mask=mask)[0])
    dec_detr = dec.norm3(t + dec.linear2(F.relu(dec.linear1(t))))


def bf(t):  # (L, B, E) -> batch-first values
    return flat(t.transpose(0, 1))


dump('transformer.json', {
    'encoder': state(enc), 'decoder': state(dec), 'src': bf(src), 'pos': bf(pos), 'tgt': bf(tgt), 'queryPos': bf(query_pos),
    'mask': mask.int().reshape(-1).tolist(), 'encoderOut': bf(enc_out), 'decoderOut': bf(dec_out), 'encoderDetr': bf(enc_detr), 'decoderDetr': bf(dec_detr),
})


# ---- DETR's PositionEmbeddingSine (and Deformable DETR's -0.5 offset) ----
def sine(mask, num_pos_feats, temperature=10000, normalize=True, scale=2 * math.pi, offset=0.0):
    not_mask = ~mask
    y_embed = not_mask.cumsum(1, dtype=torch.float32)
    x_embed = not_mask.cumsum(2, dtype=torch.float32)
    if normalize:
        eps = 1e-6
        y_embed = (y_embed + offset) / (y_embed[:, -1:, :] + eps) * scale
        x_embed = (x_embed + offset) / (x_embed[:, :, -1:] + eps) * scale
    dim_t = torch.arange(num_pos_feats, dtype=torch.float32)
    dim_t = temperature ** (2 * (dim_t // 2) / num_pos_feats)
    pos_x = x_embed[:, :, :, None] / dim_t
    pos_y = y_embed[:, :, :, None] / dim_t
    pos_x = torch.stack((pos_x[:, :, :, 0::2].sin(), pos_x[:, :, :, 1::2].cos()), dim=4).flatten(3)
    pos_y = torch.stack((pos_y[:, :, :, 0::2].sin(), pos_y[:, :, :, 1::2].cos()), dim=4).flatten(3)
    return torch.cat((pos_y, pos_x), dim=3)  # already NHWC (DETR permutes to NCHW after this)


pmask = torch.zeros(2, 5, 6, dtype=torch.bool)
pmask[1, 3:, :] = True
pmask[1, :, 4:] = True
dump('sine.json', {'mask': pmask.int().reshape(-1).tolist(), 'detr': flat(sine(pmask, 8)), 'deformable': flat(sine(pmask, 8, offset=-0.5)), 'unnormalized': flat(sine(pmask, 8, normalize=False))})

# ---- AnchorGenerator, batched NMS, RoIAlign, FPN ----
from torchvision.models.detection.anchor_utils import AnchorGenerator  # noqa: E402
from torchvision.models.detection.image_list import ImageList  # noqa: E402

gen = AnchorGenerator(sizes=((32,), (64, 96)), aspect_ratios=((0.5, 1.0, 2.0), (0.5, 1.0)))
images = ImageList(torch.zeros(1, 3, 64, 80), [(64, 80)])
anchors = gen(images, [torch.zeros(1, 4, 16, 20), torch.zeros(1, 4, 8, 10)])[0]
dump('anchors.json', {'anchors': flat(anchors)})

torch.manual_seed(7)
xy = torch.rand(40, 2) * 50
boxes = torch.cat([xy, xy + 5 + torch.rand(40, 2) * 30], 1)
scores = torch.rand(40)
classes = torch.randint(0, 3, (40,))
keep = torchvision.ops.batched_nms(boxes, scores, classes, 0.5)
dump('nms.json', {'boxes': flat(boxes), 'scores': flat(scores), 'classes': classes.tolist(), 'keep': keep.tolist(), 'keepSingle': torchvision.ops.nms(boxes, scores, 0.3).tolist()})

torch.manual_seed(8)
feat = torch.randn(2, 3, 9, 11, requires_grad=True)
rois = torch.tensor([[0, 1.0, 1.5, 12.0, 9.0], [1, -3.0, 2.0, 6.0, 14.0], [0, 4.2, 3.3, 4.9, 4.0], [1, 10.0, 0.0, 21.0, 17.5], [0, 0.0, 0.0, 22.0, 18.0]])
roi_cases = []
for aligned in (False, True):
    for sampling_ratio in (0, 2):
        out = torchvision.ops.roi_align(feat, rois, (3, 2), spatial_scale=0.5, sampling_ratio=sampling_ratio, aligned=aligned)
        g = torch.randn_like(out)
        (grad,) = torch.autograd.grad((out * g).sum(), feat)
        roi_cases.append({'aligned': aligned, 'samplingRatio': sampling_ratio, 'out': nhwc(out), 'g': nhwc(g), 'dfeat': nhwc(grad)})
dump('roi_align.json', {'feat': nhwc(feat), 'rois': flat(rois), 'outputSize': [3, 2], 'spatialScale': 0.5, 'cases': roi_cases})

torch.manual_seed(9)
fpn = FeaturePyramidNetwork([8, 16, 32], 8, extra_blocks=LastLevelMaxPool()).eval()
with torch.no_grad():
    for p in fpn.parameters():
        p.normal_(0, 0.2)
fx = collections.OrderedDict([('C3', torch.randn(1, 8, 10, 12)), ('C4', torch.randn(1, 16, 5, 6)), ('C5', torch.randn(1, 32, 3, 3))])
with torch.no_grad():
    fy = fpn(fx)
dump('fpn.json', {'state': state(fpn), 'inputs': {k: {'shape': list(v.permute(0, 2, 3, 1).shape), 'values': nhwc(v)} for k, v in fx.items()}, 'outputs': {k: {'shape': list(v.permute(0, 2, 3, 1).shape), 'values': nhwc(v)} for k, v in fy.items()}})
# ---- torchvision's BoxCoder (Faster R-CNN's box deltas) ----
from torchvision.models.detection._utils import BoxCoder  # noqa: E402

torch.manual_seed(10)
coder = BoxCoder((10.0, 10.0, 5.0, 5.0))
xy = torch.rand(6, 2) * 40
proposals = torch.cat([xy, xy + 4 + torch.rand(6, 2) * 20], 1)
xy = torch.rand(6, 2) * 40
gt = torch.cat([xy, xy + 4 + torch.rand(6, 2) * 20], 1)
codes = coder.encode_single(gt, proposals)
deltas = torch.randn(6, 4)
deltas[0, 2] = 9.0  # beyond bbox_xform_clip: clamped
decoded = coder.decode_single(deltas, proposals)
dump('box_coder.json', {'proposals': flat(proposals), 'gt': flat(gt), 'codes': flat(codes), 'deltas': flat(deltas), 'decoded': flat(decoded)})
print('fixtures written to', os.path.abspath(OUT))
