"""The trainers' AdamW: torch's fused kernel where it applies, the same update as the default."""

import pytest
import torch
from torch import nn

from sportanim.train.optimizer import fused_adamw_applies, make_adamw


def _trained_copy(make, steps: int = 3) -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.SiLU(), nn.Linear(8, 2))
    opt = make(model.parameters())
    data = torch.randn(16, 6, generator=torch.Generator().manual_seed(1))
    for _ in range(steps):
        model(data).pow(2).mean().backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return model, opt


def test_fused_kernel_on_the_cpu_gives_the_default_kernels_update():
    kwargs = dict(lr=1e-2, betas=(0.9, 0.99), weight_decay=1e-4)
    fused, opt = _trained_copy(lambda p: make_adamw(p, **kwargs))
    assert opt.param_groups[0]["fused"] is True
    loop, _ = _trained_copy(lambda p: torch.optim.AdamW(p, foreach=False, **kwargs))
    for a, b in zip(fused.parameters(), loop.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    # the steps moved the weights (the comparison above is not of untouched copies)
    torch.manual_seed(0)
    fresh = nn.Sequential(nn.Linear(6, 8), nn.SiLU(), nn.Linear(8, 2))
    assert (fresh[0].weight - fused[0].weight).abs().max() > 1e-3


def test_fused_applies_only_to_floating_parameters_on_one_supported_device():
    assert fused_adamw_applies([torch.zeros(2), torch.zeros(3)])
    assert not fused_adamw_applies([torch.zeros(2, device="meta")])
    assert not fused_adamw_applies([torch.zeros(2, dtype=torch.int64)])
    opt = make_adamw([nn.Parameter(torch.zeros(2, device="meta"))], lr=1e-3)
    assert not opt.param_groups[0]["fused"]


def test_no_parameters_is_refused():
    with pytest.raises(ValueError, match="no parameters"):
        make_adamw([], lr=1e-3)


def test_fused_can_be_declined():
    opt = make_adamw([nn.Parameter(torch.zeros(2))], lr=1e-3, allow_fused=False)
    assert not opt.param_groups[0]["fused"]
