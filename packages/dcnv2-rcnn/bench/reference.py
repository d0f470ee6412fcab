"""The PyTorch side of bench/index.ts (core's interleavedBench sets the threads): torchvision's Faster R-CNN sized
like FASTER_RCNN_SMALL (ResNet-18 layout at width 16 with trainable batch norm, FPN 64, anchors 8..128, 600/300
proposals, 128 RoIs, 256-wide head), float32, on one image. `cases(size)` returns one function per case, named as
on our side.
"""
import os
import sys

import torch
from torch import nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts"))
from torch_resnet import NarrowResNet  # noqa: E402


def cases(size):
    size = int(size)
    torch.manual_seed(0)
    width, fpn, hidden, classes = 16, 64, 256, 5
    backbone = BackboneWithFPN(
        NarrowResNet(width, nn.BatchNorm2d),
        {"layer1": "0", "layer2": "1", "layer3": "2", "layer4": "3"},
        [width, width * 2, width * 4, width * 8],
        fpn,
        extra_blocks=LastLevelMaxPool(),
    )
    model = FasterRCNN(
        backbone,
        min_size=size,
        max_size=size,
        image_mean=[0.0, 0.0, 0.0],
        image_std=[1.0, 1.0, 1.0],
        rpn_anchor_generator=AnchorGenerator(((8,), (16,), (32,), (64,), (128,)), ((0.5, 1.0, 2.0),) * 5),
        rpn_pre_nms_top_n_train=600,
        rpn_pre_nms_top_n_test=300,
        rpn_post_nms_top_n_train=300,
        rpn_post_nms_top_n_test=100,
        box_roi_pool=MultiScaleRoIAlign(["0", "1", "2", "3"], 7, 2, canonical_scale=56),
        box_head=TwoMLPHead(fpn * 49, hidden),
        box_predictor=FastRCNNPredictor(hidden, classes + 1),
        box_batch_size_per_image=128,
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-4)
    image = torch.randn(3, size, size)
    target = {
        "boxes": torch.tensor([[10.0, 12.0, 50.0, 60.0], [60.0, 30.0, 120.0, 90.0], [5.0, 80.0, 30.0, 120.0]]) * size / 128,
        "labels": torch.tensor([1, 3, 5]),
    }


    def train():
        model.train()
        losses = model([image], [target])
        loss = sum(losses.values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


    def infer():
        model.eval()
        with torch.no_grad():
            model([image])

    return {"Faster R-CNN small, train step": train, "Faster R-CNN small, inference": infer}
