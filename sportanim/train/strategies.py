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

from sportanim.train.config import STRATEGY_NAMES


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


_TOKENIZER = Stage("tokenizer", train=("tokenizer",))
_DIFFUSION = Stage("diffusion", train=("dit",), freeze=("tokenizer", "vae"))
STRATEGIES: dict[str, tuple[Stage, ...]] = dict(zip(STRATEGY_NAMES, (
    (_TOKENIZER,),  # tokenizer
    (_DIFFUSION,),  # diffusion
    (_TOKENIZER, _DIFFUSION),  # staged
)))


def resolve(strategy: str) -> tuple[Stage, ...]:
    """The stages of ``strategy``; ``ValueError`` for an unknown name."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {sorted(STRATEGIES)}")
    return STRATEGIES[strategy]
