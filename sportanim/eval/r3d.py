"""3D ResNet-50 (Hara et al., "Can spatiotemporal 3D CNNs retrace the history of 2D CNNs
and ImageNet?", 2018; shortcut type B) as DisCo's FID-VID uses it: Kinetics-400 weights
``resnet-50-kinetics.pth``, features = the 2048-dim global average pool before ``fc``.

Parameter names equal that checkpoint's (after dropping its ``module.`` prefix).
"""

from __future__ import annotations

import torch
from torch import nn


def _conv_bn(cin: int, cout: int, kernel: int, stride: int | tuple = 1) -> list[nn.Module]:
    return [nn.Conv3d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm3d(cout)]


class Bottleneck3d(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1):
        super().__init__()
        cout = planes * self.expansion
        self.conv1, self.bn1 = _conv_bn(cin, planes, 1)
        self.conv2, self.bn2 = _conv_bn(planes, planes, 3, stride)
        self.conv3, self.bn3 = _conv_bn(planes, cout, 1)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = (nn.Sequential(*_conv_bn(cin, cout, 1, stride))
                           if stride != 1 or cin != cout else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class ResNet3d50(nn.Module):
    """(N, 3, T, 112, 112), mean-subtracted 0-255 RGB -> (N, 2048) pooled features."""

    def __init__(self, num_classes: int = 400, layers: tuple = (3, 4, 6, 3)):
        super().__init__()
        self.conv1 = nn.Conv3d(3, 64, 7, stride=(1, 2, 2), padding=3, bias=False)
        self.bn1 = nn.BatchNorm3d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool3d(3, stride=2, padding=1)
        cin = 64
        for index, (planes, blocks) in enumerate(zip((64, 128, 256, 512), layers), start=1):
            stride = 1 if index == 1 else 2
            stage = []
            for block in range(blocks):
                stage.append(Bottleneck3d(cin, planes, stride if block == 0 else 1))
                cin = planes * Bottleneck3d.expansion
            setattr(self, f"layer{index}", nn.Sequential(*stage))
        self.fc = nn.Linear(cin, num_classes)  # in the checkpoint; unused for features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        # = Hara's AvgPool3d((ceil(T/16), 4, 4)) for the protocol's 16 x 112 x 112 input
        return x.mean(dim=(2, 3, 4))  # (N, 2048)
