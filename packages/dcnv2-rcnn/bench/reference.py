"""A persistent PyTorch worker for bench/index.ts: torchvision's Faster R-CNN sized like FASTER_RCNN_SMALL (ResNet-18
layout at width 16 with trainable batch norm, FPN 64, anchors 8..128, 600/300 proposals, 128 RoIs, 256-wide head),
float32, on one image. Reads commands from stdin, one per line ("train" or "infer"), runs one and prints the
milliseconds as a JSON line. Usage: OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/reference.py <threads> <size>
"""
import json
import sys
import time

import torch
from torch import nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.resnet import BasicBlock, ResNet
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

threads, size = int(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(threads)
torch.manual_seed(0)


class NarrowResNet(ResNet):
    def __init__(self, width):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes, self.dilation, self.groups, self.base_width = width, 1, 1, 64
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(BasicBlock, width, 2)
        self.layer2 = self._make_layer(BasicBlock, width * 2, 2, stride=2)
        self.layer3 = self._make_layer(BasicBlock, width * 4, 2, stride=2)
        self.layer4 = self._make_layer(BasicBlock, width * 8, 2, stride=2)


width, fpn, hidden, classes = 16, 64, 256, 5
backbone = BackboneWithFPN(
    NarrowResNet(width),
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


for line in sys.stdin:
    command = line.strip()
    start = time.perf_counter()
    {"train": train, "infer": infer}[command]()
    print(json.dumps({"ms": (time.perf_counter() - start) * 1000}), flush=True)
