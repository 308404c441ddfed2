"""Skipping most of the DiT on denoising steps that change little (first-block caching).

Neighbouring denoising steps often change the transformer's work very little. At each step
the first block runs as usual; when its residual (output minus input) differs from the
previous step's by less than ``threshold`` (mean absolute difference over the mean absolute
previous residual), the remaining blocks are skipped and their residual from the last fully
computed step is added instead. The idea is that of first-block caching in ParaAttention
(also TeaCache's: the change of an early signal predicts the change of the whole model).

It changes the result, so it is off by default (``threshold`` 0); ``benchmarks/step_cache.py``
measures its speed and its cost in PSNR against the uncached video and in motion fidelity.
One ``FirstBlockCache`` serves one generation (``reset`` between generations).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class FirstBlockCache:
    threshold: float
    steps: int = 0     # forward passes seen
    skipped: int = 0   # of those, passes whose later blocks were skipped
    _first: torch.Tensor | None = field(default=None, repr=False)  # last first-block residual
    _rest: torch.Tensor | None = field(default=None, repr=False)   # last residual of the other blocks

    def __post_init__(self):
        if not (self.threshold >= 0.0):
            raise ValueError(f"step cache threshold must be >= 0, got {self.threshold}")

    def reset(self) -> None:
        self.steps = self.skipped = 0
        self._first = self._rest = None

    def reusable(self, first_residual: torch.Tensor) -> bool:
        """Whether the other blocks may be skipped for this first-block residual (counts the pass)."""
        self.steps += 1
        if self.threshold == 0.0 or self._first is None or self._first.shape != first_residual.shape:
            return False
        change = (first_residual - self._first).abs().mean() / self._first.abs().mean().clamp_min(1e-12)
        if float(change) < self.threshold:
            self.skipped += 1
            return True
        return False

    def rest(self) -> torch.Tensor:
        return self._rest

    def store(self, first_residual: torch.Tensor, rest_residual: torch.Tensor) -> None:
        self._first, self._rest = first_residual.detach(), rest_residual.detach()
