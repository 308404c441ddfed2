"""3D convolutions of a batch of one on the CPU, through oneDNN.

torch chooses a CPU convolution kernel by a rule tuned for images: a batch of one, a 3x3
kernel and fewer than 20480 elements in the input's first four dimensions (N x C x T x H)
go to the naive im2col kernel (``slow_conv3d``). The video VAE decodes one clip at a time,
so at 64x64 every one of its 3D convolutions took that path: 89% of a tiny generation's
time, each call ~13x slower than oneDNN (``mkldnn_convolution``) on the same tensors
(``benchmarks/models.py`` measures both ways). ``route_conv3d_to_onednn(module)`` sends the
``Conv3d`` layers of ``module`` to oneDNN for float32 CPU inputs when no gradient is being
recorded; anything else (training, GPUs, other dtypes, non-zero padding modes) goes where torch
sends it. Same math; results agree to float32 rounding.
"""

from __future__ import annotations

import types

import torch
from torch import nn


def _onednn_conv_forward(self: nn.Conv3d, input: torch.Tensor, weight: torch.Tensor,
                         bias: torch.Tensor | None) -> torch.Tensor:
    if (input.device.type == "cpu" and input.dtype == torch.float32 and weight.dtype == torch.float32
            and self.padding_mode == "zeros" and not isinstance(self.padding, str)
            and not torch.is_grad_enabled()):
        return torch.mkldnn_convolution(input.contiguous(), weight, bias, self.padding, self.stride,
                                        self.dilation, self.groups)
    return nn.Conv3d._conv_forward(self, input, weight, bias)


def route_conv3d_to_onednn(module: nn.Module) -> int:
    """Route every ``Conv3d`` of ``module`` as the module notes say; returns how many (0 where
    this torch build has no oneDNN)."""
    if not torch.backends.mkldnn.is_available():
        return 0
    routed = 0
    for layer in module.modules():
        if isinstance(layer, nn.Conv3d):
            layer._conv_forward = types.MethodType(_onednn_conv_forward, layer)
            routed += 1
    return routed
