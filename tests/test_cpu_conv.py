"""Batch-1 Conv3d layers on the CPU go through oneDNN at inference, with the same results."""

import pytest
import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

from sportanim.models.cpu_conv import route_conv3d_to_onednn

pytestmark = pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="this torch has no oneDNN")


def _kernels(fn) -> set[str]:
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return {e.key for e in prof.key_averages() if "conv" in e.key}


def test_routed_conv3d_uses_onednn_and_gives_the_same_result():
    torch.manual_seed(0)
    plain = nn.Conv3d(8, 8, 3, padding=(0, 1, 1))
    routed = nn.Conv3d(8, 8, 3, padding=(0, 1, 1))
    routed.load_state_dict(plain.state_dict())
    assert route_conv3d_to_onednn(routed) == 1
    x = torch.randn(1, 8, 5, 16, 16)
    with torch.no_grad():
        assert "aten::slow_conv3d_forward" in _kernels(lambda: plain(x))  # torch's own rule here
        kernels = _kernels(lambda: routed(x))
        assert "aten::mkldnn_convolution" in kernels and "aten::slow_conv3d_forward" not in kernels
        torch.testing.assert_close(routed(x), plain(x), rtol=1e-4, atol=1e-5)


def test_training_and_other_padding_modes_keep_torchs_path():
    torch.manual_seed(0)
    conv = nn.Conv3d(4, 4, 3, padding=1, padding_mode="replicate")
    plain = nn.Conv3d(4, 4, 3, padding=1)
    plain.load_state_dict(conv.state_dict())
    route_conv3d_to_onednn(conv)
    route_conv3d_to_onednn(plain)
    x = torch.randn(1, 4, 3, 8, 8, requires_grad=True)
    assert "aten::mkldnn_convolution" not in _kernels(lambda: plain(x))  # gradients recorded
    plain(x).sum().backward()
    assert x.grad is not None
    with torch.no_grad():
        expected = nn.functional.conv3d(nn.functional.pad(x, (1,) * 6, mode="replicate"), conv.weight, conv.bias)
        torch.testing.assert_close(conv(x), expected)


def test_loaded_pipelines_route_their_vae():
    from sportanim.models.pipeline import build_pipeline

    pipe = build_pipeline("tiny", seed=0)
    convs = [m for m in pipe.vae.modules() if isinstance(m, nn.Conv3d)]
    assert convs and all("_conv_forward" in vars(m) for m in convs)
