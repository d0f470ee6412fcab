"""Golden values for @deformjs/dcnv2-rcnn's tests, from torchvision's own Faster R-CNN (torch 1.13, torchvision 0.14).

Run with /usr/bin/python3 from the package folder:  /usr/bin/python3 scripts/make_fixtures.py
Writes
  test/fixtures/parity.pth    the state_dict of torchvision's FasterRCNN (torch.save), float64
  test/fixtures/parity.json   its inputs and intermediate tensors (FPN features, RPN head, pooled RoIs, box head)
  test/fixtures/losses.json   smooth L1, BCE with logits, cross-entropy and the cosine mimic loss, float64
  test/fixtures/matcher.json  torchvision's Matcher and LevelMapper on awkward cases
The backbone is torchvision's ResNet-18 layout (BasicBlock, [2, 2, 2, 2], FrozenBatchNorm2d, the same key names)
at width 4 so the fixture stays small; every weight and norm statistic is seeded random so nothing is trivial.
"""
import json
import os

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection._utils import Matcher
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool
from torchvision.ops.misc import FrozenBatchNorm2d
from torchvision.ops.poolers import LevelMapper

from torch_resnet import NarrowResNet

torch.set_default_dtype(torch.float64)
torch.manual_seed(0)
OUT = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures")
WIDTH = 4
FPN_CHANNELS = 8
REPRESENTATION = 16
NUM_CLASSES = 3  # foreground classes; the predictor scores 4
ANCHOR_SIZES = [8, 16, 32, 64, 128]
RATIOS = [0.5, 1.0, 2.0]
CANONICAL_SCALE = 20


def build():
    body = NarrowResNet(WIDTH, FrozenBatchNorm2d)
    backbone = BackboneWithFPN(
        body,
        return_layers={"layer1": "0", "layer2": "1", "layer3": "2", "layer4": "3"},
        in_channels_list=[WIDTH, WIDTH * 2, WIDTH * 4, WIDTH * 8],
        out_channels=FPN_CHANNELS,
        extra_blocks=LastLevelMaxPool(),
    )
    anchors = AnchorGenerator(tuple((s,) for s in ANCHOR_SIZES), (tuple(RATIOS),) * 5)
    pool = MultiScaleRoIAlign(["0", "1", "2", "3"], 7, 2, canonical_scale=CANONICAL_SCALE)
    model = FasterRCNN(
        backbone,
        rpn_anchor_generator=anchors,
        box_roi_pool=pool,
        box_head=TwoMLPHead(FPN_CHANNELS * 49, REPRESENTATION),
        box_predictor=FastRCNNPredictor(REPRESENTATION, NUM_CLASSES + 1),
    ).double()
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("running_var"):
                t.copy_(torch.rand_like(t) + 0.5)
            elif name.endswith("bn1.weight") or name.endswith("bn2.weight") or name.endswith("downsample.1.weight"):
                t.copy_(torch.rand_like(t) + 0.5)
            elif t.dim() > 1:
                # Variance-preserving scale, so activations stay O(1) through the network.
                t.copy_(torch.randn_like(t) / t[0].numel() ** 0.5)
            else:
                t.copy_(torch.randn_like(t) * 0.1)
    return model.eval()


def nested(t):
    # 8 significant digits: far below the tests' 1e-4 tolerance, and a third of the file.
    values = t.detach()
    if values.is_floating_point():
        return torch.tensor([float(f"{v:.8g}") for v in values.flatten().tolist()]).reshape(values.shape).tolist()
    return values.tolist()


def parity():
    model = build()
    images = torch.randn(2, 3, 32, 64)
    image_shapes = [(32, 64), (32, 64)]
    features = model.backbone(images)
    objectness, deltas = model.rpn.head(list(features.values()))
    # Proposals of every size so the level mapper sends them to all four levels (canonical 20 at level 4).
    proposals = [
        torch.tensor([[2.0, 3.0, 9.5, 11.0], [10.0, 4.0, 30.0, 22.0], [0.0, 0.0, 63.0, 31.0], [20.5, 8.0, 44.0, 30.0]]),
        torch.tensor([[5.0, 5.0, 12.0, 30.0], [30.0, 2.0, 62.0, 31.5], [1.0, 20.0, 4.0, 24.0]]),
    ]
    mapper = LevelMapper(2, 5, CANONICAL_SCALE, 4)
    pooled = model.roi_heads.box_roi_pool(features, proposals, image_shapes)
    box_features = model.roi_heads.box_head(pooled)
    class_logits, box_regression = model.roi_heads.box_predictor(box_features)
    torch.save(model.state_dict(), os.path.join(OUT, "parity.pth"))
    fixture = {
        "config": {
            "width": WIDTH,
            "fpn_channels": FPN_CHANNELS,
            "representation_size": REPRESENTATION,
            "num_classes": NUM_CLASSES,
            "anchor_sizes": ANCHOR_SIZES,
            "aspect_ratios": RATIOS,
            "canonical_scale": CANONICAL_SCALE,
        },
        "images_nchw": nested(images),
        "features_nchw": [nested(f) for f in features.values()],
        "objectness_nchw": [nested(o) for o in objectness],
        "deltas_nchw": [nested(d) for d in deltas],
        "proposals": [nested(p) for p in proposals],
        "levels": nested(mapper(proposals)),
        "pooled_nchw": nested(pooled),
        "class_logits": nested(class_logits),
        "box_regression": nested(box_regression),
    }
    with open(os.path.join(OUT, "parity.json"), "w") as f:
        json.dump(fixture, f)


def losses():
    g = torch.Generator().manual_seed(1)
    pred = torch.randn(7, 4, generator=g) * 0.3
    target = torch.randn(7, 4, generator=g) * 0.3
    logits = torch.randn(11, generator=g) * 4
    labels01 = (torch.rand(11, generator=g) > 0.5).double()
    class_logits = torch.randn(9, 5, generator=g) * 2
    classes = torch.randint(0, 5, (9,), generator=g)
    a = torch.randn(6, 10, generator=g)
    b = torch.randn(6, 10, generator=g)
    out = {
        "smooth_l1": {
            "input": nested(pred),
            "target": nested(target),
            "beta": 1 / 9,
            "sum": F.smooth_l1_loss(pred, target, beta=1 / 9, reduction="sum").item(),
        },
        "bce": {
            "logits": nested(logits),
            "targets": nested(labels01),
            "mean": F.binary_cross_entropy_with_logits(logits, labels01).item(),
        },
        "cross_entropy": {
            "logits": nested(class_logits),
            "labels": nested(classes),
            "mean": F.cross_entropy(class_logits, classes).item(),
        },
        "mimic": {"a": nested(a), "b": nested(b), "mean": (1 - F.cosine_similarity(a, b, dim=1)).mean().item()},
    }
    with open(os.path.join(OUT, "losses.json"), "w") as f:
        json.dump(out, f)


def matcher():
    g = torch.Generator().manual_seed(2)

    def boxes(n, size):
        xy = torch.rand(n, 2, generator=g) * size
        wh = torch.rand(n, 2, generator=g) * size / 2 + 1
        return torch.cat([xy, xy + wh], 1).float()

    from torchvision.ops import box_iou

    cases = []
    for name, gt, pred, high, low, allow in [
        ("rpn", boxes(4, 64), boxes(50, 64), 0.7, 0.3, True),
        ("rpn-tiny-image", boxes(2, 6), boxes(12, 6), 0.7, 0.3, True),
        ("roi", boxes(3, 64), boxes(40, 64), 0.5, 0.5, False),
    ]:
        matches = Matcher(high, low, allow_low_quality_matches=allow)(box_iou(gt, pred))
        cases.append(
            {
                "name": name,
                "gt": nested(gt),
                "pred": nested(pred),
                "high": high,
                "low": low,
                "allow_low_quality": allow,
                "matches": nested(matches),
            }
        )
    with open(os.path.join(OUT, "matcher.json"), "w") as f:
        json.dump(cases, f)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    parity()
    losses()
    matcher()
