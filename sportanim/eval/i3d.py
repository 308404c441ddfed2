"""Inflated 3D ConvNet (I3D; Carreira and Zisserman, "Quo Vadis, Action Recognition?",
2017), the RGB Kinetics-400 network of the FVD protocol (Unterthiner et al. 2018).

Used here only as the random-weight stand-in for the published TorchScript file
``i3d_torchscript.pt`` (StyleGAN-V), which carries its own graph and is run as is.
Same layer plan: Conv 7x7x7/2, max pools (1,3,3)/(1,2,2) x2, Conv 1x1x1 and 3x3x3,
nine Inception modules (3b..5c) with max pools 3x3x3/2 and 2x2x2/2 between them,
average pool (2,7,7), a 1x1x1 logits conv to 400 classes averaged over time. Padding is
TensorFlow's "SAME" (asymmetric when the total is odd), as in the original graph.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# (name, [b0 1x1, b1 1x1, b1 3x3, b2 1x1, b2 3x3, b3 pool-proj]) of the nine modules
MIXED = (("Mixed_3b", (64, 96, 128, 16, 32, 32)), ("Mixed_3c", (128, 128, 192, 32, 96, 64)),
         ("Mixed_4b", (192, 96, 208, 16, 48, 64)), ("Mixed_4c", (160, 112, 224, 24, 64, 64)),
         ("Mixed_4d", (128, 128, 256, 24, 64, 64)), ("Mixed_4e", (112, 144, 288, 32, 64, 64)),
         ("Mixed_4f", (256, 160, 320, 32, 128, 128)),
         ("Mixed_5b", (256, 160, 320, 32, 128, 128)),
         ("Mixed_5c", (384, 192, 384, 48, 128, 128)))
POOL_BEFORE = {"Mixed_4b": (3, 2), "Mixed_5b": (2, 2)}  # kernel, stride (cubic)


def _same_pad(x: torch.Tensor, kernel: tuple, stride: tuple, value: float = 0.0) -> torch.Tensor:
    """Pad (T, H, W) of ``x`` as TF "SAME": output = ceil(input / stride)."""
    pads = []
    for size, k, s in zip(reversed(x.shape[2:]), reversed(kernel), reversed(stride)):
        total = max((math.ceil(size / s) - 1) * s + k - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads, value=value)


class Unit3d(nn.Module):
    """Conv3d (no bias) + BatchNorm (eps 1e-3) + ReLU with "SAME" padding."""

    def __init__(self, cin: int, cout: int, kernel=1, stride=1):
        super().__init__()
        self.kernel = (kernel,) * 3 if isinstance(kernel, int) else tuple(kernel)
        self.stride = (stride,) * 3 if isinstance(stride, int) else tuple(stride)
        self.conv = nn.Conv3d(cin, cout, self.kernel, self.stride, bias=False)
        self.bn = nn.BatchNorm3d(cout, eps=1e-3, momentum=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(_same_pad(x, self.kernel, self.stride))))


class MaxPool3dSame(nn.Module):
    def __init__(self, kernel, stride):
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _same_pad(x, self.kernel, self.stride, value=float("-inf"))
        return F.max_pool3d(x, self.kernel, self.stride)


class InceptionModule3d(nn.Module):
    def __init__(self, cin: int, widths: tuple):
        super().__init__()
        b0, b1a, b1b, b2a, b2b, b3 = widths
        self.b0 = Unit3d(cin, b0)
        self.b1 = nn.Sequential(Unit3d(cin, b1a), Unit3d(b1a, b1b, 3))
        self.b2 = nn.Sequential(Unit3d(cin, b2a), Unit3d(b2a, b2b, 3))
        self.b3 = nn.Sequential(MaxPool3dSame((3, 3, 3), (1, 1, 1)), Unit3d(cin, b3))
        self.out_channels = b0 + b1b + b2b + b3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1(x), self.b2(x), self.b3(x)], dim=1)


class InceptionI3d(nn.Module):
    """(N, 3, T, 224, 224) in [-1, 1] -> (N, 400) logits averaged over time."""

    def __init__(self, num_classes: int = 400):
        super().__init__()
        layers = [Unit3d(3, 64, 7, 2), MaxPool3dSame((1, 3, 3), (1, 2, 2)),
                  Unit3d(64, 64), Unit3d(64, 192, 3), MaxPool3dSame((1, 3, 3), (1, 2, 2))]
        cin = 192
        for name, widths in MIXED:
            if name in POOL_BEFORE:
                k, s = POOL_BEFORE[name]
                layers.append(MaxPool3dSame((k,) * 3, (s,) * 3))
            module = InceptionModule3d(cin, widths)
            layers.append(module)
            cin = module.out_channels
        self.features = nn.Sequential(*layers)
        self.logits = nn.Conv3d(cin, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)  # (N, 1024, T/8, 7, 7) at 224 px
        x = F.avg_pool3d(x, (min(2, x.shape[2]), 7, 7), stride=1) if x.shape[-1] >= 7 else \
            x.mean(dim=(2, 3, 4), keepdim=True)
        return self.logits(x).mean(dim=(2, 3, 4))  # (N, 400)
