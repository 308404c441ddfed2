"""The AdamW every sportanim trainer builds: torch's fused kernel wherever it runs.

torch picks its AdamW kernel by device: on the CPU the default is a Python loop of ~10 tensor
operations a parameter (the 4DMoT has 100 parameter tensors: ~1000 small calls a step), on CUDA
the ``foreach`` kernel, which also holds a copy of the moments during the step. The fused kernel
(CPU and CUDA) does the whole update in one call a parameter group and needs no temporaries, so
``sportanim plan-memory``'s default (``--adam-kernel fused``) is what training runs. Same update
(float32 rounding). Several CPU processes (gloo) keep torch's default: with the fused kernel 2 of
the first 9 two-process runs of ``test_two_cpu_processes_match_one_process`` in a fresh clone
aborted at exit (0 of 16 with the default). 87 later runs with the fused kernel did not abort,
with or without the trainer's process-group shutdown at exit, so the cause is not pinned down.
``python benchmarks/train.py`` and ``benchmarks/tokenizer_speed.py`` time training steps with it.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

FUSED_DEVICES = ("cpu", "cuda")  # where torch 2.x has a fused AdamW


def fused_adamw_applies(params: list[torch.Tensor]) -> bool:
    """Whether torch's fused AdamW can update ``params``: floating point, all on one device type
    it supports (meta or other backends keep torch's default kernel)."""
    kinds = {p.device.type for p in params}
    return (len(kinds) == 1 and kinds <= set(FUSED_DEVICES)
            and all(torch.is_floating_point(p) for p in params))


def make_adamw(params: Iterable[torch.Tensor], lr: float, betas: tuple[float, float] = (0.9, 0.999),
               weight_decay: float = 1e-2, eps: float = 1e-8, allow_fused: bool = True) -> torch.optim.AdamW:
    """``torch.optim.AdamW`` with the fused kernel where it applies (and ``allow_fused``), else
    torch's default."""
    params = list(params)
    if not params:
        raise ValueError("make_adamw: no parameters to optimise")
    fused = True if allow_fused and fused_adamw_applies(params) else None
    return torch.optim.AdamW(params, lr=lr, betas=betas, weight_decay=weight_decay, eps=eps, fused=fused)
