"""torchvision's ResNet-18 layout at any width (shared by scripts/make_fixtures.py and bench/reference.py)."""
from torch import nn
from torchvision.models.resnet import BasicBlock, ResNet


class NarrowResNet(ResNet):
    """torchvision's ResNet-18 with every stage's width scaled (64 -> width): same modules, same state_dict keys."""

    def __init__(self, width, norm_layer):
        nn.Module.__init__(self)
        self._norm_layer = norm_layer
        self.inplanes, self.dilation, self.groups, self.base_width = width, 1, 1, 64
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = norm_layer(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(BasicBlock, width, 2)
        self.layer2 = self._make_layer(BasicBlock, width * 2, 2, stride=2)
        self.layer3 = self._make_layer(BasicBlock, width * 4, 2, stride=2)
        self.layer4 = self._make_layer(BasicBlock, width * 8, 2, stride=2)
