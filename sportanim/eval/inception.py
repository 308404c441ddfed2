"""InceptionV3 as FID uses it: torchvision's network with the blocks of the TensorFlow
2015-12-05 graph, whose pooling differs from torchvision's (pytorch-fid's FID network):

- Mixed_5b..5d, 6b..6e, 7b: the pool branch's 3x3 average pool excludes the padding;
- Mixed_7c: the pool branch is a 3x3 max pool;
- 1008 classes (the TF graph's), no auxiliary head.

Parameter names equal torchvision's, which is the layout of ``pt_inception-2015-12-05``.
``forward`` returns the 2048-dim pool3 features (after Mixed_7c and global average pool).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchvision.models.inception import Inception3, InceptionA, InceptionC, InceptionE


def _avg_pool_no_pad(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class FIDInceptionA(InceptionA):
    def _forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self.branch1x1(x),
                self.branch5x5_2(self.branch5x5_1(x)),
                self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                self.branch_pool(_avg_pool_no_pad(x))]


class FIDInceptionC(InceptionC):
    def _forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        dbl = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4,
                      self.branch7x7dbl_5):
            dbl = layer(dbl)
        return [self.branch1x1(x), b7, dbl, self.branch_pool(_avg_pool_no_pad(x))]


class FIDInceptionE(InceptionE):
    def __init__(self, in_channels: int, max_pool: bool = False):
        super().__init__(in_channels)
        self.max_pool = max_pool

    def _forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        dbl = torch.cat([self.branch3x3dbl_3a(dbl), self.branch3x3dbl_3b(dbl)], 1)
        pooled = (F.max_pool2d(x, kernel_size=3, stride=1, padding=1) if self.max_pool
                  else _avg_pool_no_pad(x))
        return [self.branch1x1(x), b3, dbl, self.branch_pool(pooled)]


class FIDInceptionV3(Inception3):
    """(N, 3, 299, 299) in [-1, 1] -> (N, 2048) pool3 features."""

    def __init__(self):
        super().__init__(num_classes=1008, aux_logits=False, init_weights=False)
        for name, channels, pool in (("Mixed_5b", 192, 32), ("Mixed_5c", 256, 64),
                                     ("Mixed_5d", 288, 64)):
            setattr(self, name, FIDInceptionA(channels, pool_features=pool))
        for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160),
                         ("Mixed_6e", 192)):
            setattr(self, name, FIDInceptionC(768, channels_7x7=c7))
        self.Mixed_7b = FIDInceptionE(1280)
        self.Mixed_7c = FIDInceptionE(2048, max_pool=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, 3, 299, 299)
        for layer in (self.Conv2d_1a_3x3, self.Conv2d_2a_3x3, self.Conv2d_2b_3x3,
                      self.maxpool1, self.Conv2d_3b_1x1, self.Conv2d_4a_3x3, self.maxpool2,
                      self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a,
                      self.Mixed_6b, self.Mixed_6c, self.Mixed_6d, self.Mixed_6e,
                      self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = layer(x)
        return torch.flatten(self.avgpool(x), 1)  # (N, 2048)


def fid_inception_input(frames: torch.Tensor) -> torch.Tensor:
    """uint8-valued ``(N, 3, H, W)`` -> ``(N, 3, 299, 299)`` in [-1, 1]: bilinear resize
    (align_corners False) then 2x - 1 of [0, 1] values, as pytorch-fid."""
    x = frames.float() / 255.0
    if x.shape[-2:] != (299, 299):
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
    return 2 * x - 1


