"""The paper's three fine-tuning strategies as data: which specs each stage trains and
which it loads frozen. The loop is the same for all of them (``sportanim.train.trainer``).

- ``tokenizer``: fine-tune the 4DMoT alone (paper model 1).
- ``diffusion``: fine-tune the MV-DiT on motion tokens from the frozen, pre-trained 4DMoT
  (paper model 2).
- ``staged``: the tokenizer first, then the MV-DiT on tokens of the frozen, fine-tuned
  tokenizer (paper model 3). Stage 2 takes stage 1's export as its tokenizer init.
"""

from __future__ import annotations

from dataclasses import dataclass

from sportanim.train.specs import PENDING_SPECS, SPECS


@dataclass(frozen=True)
class Stage:
    """One trainer run: ``train`` specs get gradients (the first one owns the objective);
    ``freeze`` specs are loaded, put in eval mode with ``requires_grad=False``, and only
    feed the objective."""

    name: str
    train: tuple[str, ...]
    freeze: tuple[str, ...] = ()

    @property
    def specs(self) -> tuple[str, ...]:
        return self.train + self.freeze


STRATEGIES: dict[str, tuple[Stage, ...]] = {
    "tokenizer": (Stage("tokenizer", train=("tokenizer",)),),
    "diffusion": (Stage("diffusion", train=("dit",), freeze=("tokenizer", "vae")),),
    "staged": (
        Stage("tokenizer", train=("tokenizer",)),
        Stage("diffusion", train=("dit",), freeze=("tokenizer", "vae")),
    ),
}


class StrategyNotReady(NotImplementedError):
    """A strategy whose specs are not written yet."""


def resolve(strategy: str) -> tuple[Stage, ...]:
    """The stages of ``strategy``; ``StrategyNotReady`` (before any work is done) when a
    spec it needs is still pending, ``ValueError`` for an unknown name."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {sorted(STRATEGIES)}")
    stages = STRATEGIES[strategy]
    missing = [name for stage in stages for name in stage.specs if name not in SPECS]
    if missing:
        reasons = "; ".join(f"{name}: {PENDING_SPECS.get(name, 'no spec')}" for name in dict.fromkeys(missing))
        raise StrategyNotReady(f"strategy {strategy!r} is not available yet ({reasons}); "
                               "use --strategy tokenizer for now")
    return stages
