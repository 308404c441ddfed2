"""A masked transformer over frozen 4DMoT code ids that writes jumps (MoMask style).

A clip of ``N`` token frames is ``N * J`` code ids, frame-major (the tokenizer's order).
The transformer runs over time: each token frame's ``J`` code embeddings are joined into
one vector, and each output vector gives the logits of its frame's ``J`` codes. Attention
over 13 frames instead of 312 codes is what lets it train on a CPU; masking is still per
code.
Training hides a cosine-scheduled share of them (most behind a ``[MASK]`` id, some swapped
for random codes, some left, as BERT and MoMask do) and learns to predict the hidden ids
from the rest and the condition. Sampling starts from all ``[MASK]`` and, over a few
steps, keeps the most confident predictions and re-hides the rest.

The condition is four tokens put before the code tokens: jump type, revolutions, rotation
direction and (optionally) the athlete's height. Each has a "null" value; training drops
the whole condition at ``cond_dropout`` (and the height alone at ``height_dropout``) so
one network gives both the conditional and the unconditional logits that classifier-free
guidance mixes: ``uncond + scale * (cond - uncond)``.

Sizes come from the tokenizer (codebook, joints, token frames), so the same class serves
the tiny tokenizer and the 8192-code 7B one.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from sportanim.motion.elements import DIRECTIONS, HEIGHT_RANGE
from sportanim.synth.jumps import JUMP_TYPES

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
MAX_DEPTH = 64  # transformer layers a saved config may ask for (the shipped one has 4)
JUMP_NAMES = tuple(JUMP_TYPES)
REVOLUTION_VALUES = tuple(sorted({r for j in JUMP_TYPES.values() for r in j.revolutions}))


@dataclass
class GeneratorConfig:
    """Sizes of a jump generator; the first three must match the tokenizer it writes for."""

    codebook_size: int = 512  # K of the tokenizer; id K is [MASK]
    num_joints: int = 24  # tokens per token frame
    token_frames: int = 13  # N: 49-frame clips
    token_width: int = 32  # embedding of one code; a token frame's J of them make one transformer input
    width: int = 128  # transformer width
    depth: int = 4  # transformer layers
    heads: int = 4
    dropout: float = 0.1
    cond_dropout: float = 0.1  # share of training samples seen with no condition (for CFG)
    height_dropout: float = 0.5  # share seen without the height, so it stays optional
    tokenizer: dict = field(default_factory=dict)  # where the frozen tokenizer and stats live

    @property
    def num_tokens(self) -> int:
        return self.token_frames * self.num_joints


@dataclass
class JumpCondition:
    """A batch of conditions; index ``len(values)`` of each is its null."""

    type: torch.Tensor  # (B,) long, index into JUMP_NAMES
    revolutions: torch.Tensor  # (B,) long, index into REVOLUTION_VALUES
    direction: torch.Tensor  # (B,) long, index into DIRECTIONS
    height: torch.Tensor  # (B,) float metres, NaN when not given

    @classmethod
    def make(cls, jump_type: str, revolutions: float, direction: str, height: float | None,
             count: int) -> "JumpCondition":
        full = lambda v, dtype=torch.long: torch.full((count,), v, dtype=dtype)  # noqa: E731
        return cls(full(JUMP_NAMES.index(jump_type)), full(REVOLUTION_VALUES.index(float(revolutions))),
                   full(DIRECTIONS.index(direction)), full(math.nan if height is None else height, torch.float32))

    def null(self) -> "JumpCondition":
        b = len(self.type)
        return JumpCondition(torch.full((b,), len(JUMP_NAMES)), torch.full((b,), len(REVOLUTION_VALUES)),
                             torch.full((b,), len(DIRECTIONS)), torch.full((b,), math.nan))

    def dropped(self, share: float, height_share: float, generator: torch.Generator) -> "JumpCondition":
        """A copy with the whole condition nulled for ``share`` of the batch and the height
        alone for ``height_share``."""
        b = len(self.type)
        drop = torch.rand(b, generator=generator) < share
        drop_h = drop | (torch.rand(b, generator=generator) < height_share)
        null = self.null()
        pick = lambda a, n, m: torch.where(m, n, a)  # noqa: E731
        return JumpCondition(pick(self.type, null.type, drop), pick(self.revolutions, null.revolutions, drop),
                             pick(self.direction, null.direction, drop), pick(self.height, null.height, drop_h))

    def index(self, rows) -> "JumpCondition":
        return JumpCondition(self.type[rows], self.revolutions[rows], self.direction[rows], self.height[rows])

    def to(self, device) -> "JumpCondition":
        return JumpCondition(*(t.to(device) for t in (self.type, self.revolutions, self.direction, self.height)))


class ConditionEmbedding(nn.Module):
    """Four condition tokens ``(B, 4, D)``: type, revolutions, direction, height."""

    def __init__(self, width: int):
        super().__init__()
        self.jump_type = nn.Embedding(len(JUMP_NAMES) + 1, width)
        self.revolutions = nn.Embedding(len(REVOLUTION_VALUES) + 1, width)
        self.direction = nn.Embedding(len(DIRECTIONS) + 1, width)
        self.height = nn.Linear(1, width)
        self.no_height = nn.Parameter(torch.zeros(width))
        self.slot = nn.Parameter(torch.zeros(4, width))  # which condition a token is

    def forward(self, cond: JumpCondition) -> torch.Tensor:
        centre = 0.5 * (HEIGHT_RANGE[0] + HEIGHT_RANGE[1])
        given = torch.isfinite(cond.height)
        h = torch.where(given, cond.height, torch.full_like(cond.height, centre)) - centre
        height = torch.where(given[:, None], self.height(h[:, None] / 0.3), self.no_height)
        tokens = torch.stack([self.jump_type(cond.type), self.revolutions(cond.revolutions),
                              self.direction(cond.direction), height], dim=1)  # (B, 4, D)
        return tokens + self.slot


class JumpGenerator(nn.Module):
    """Masked token transformer: ids ``(B, N * J)`` (``K`` = [MASK]) + condition -> logits
    ``(B, N * J, K)``."""

    def __init__(self, config: GeneratorConfig):
        super().__init__()
        self.config = c = config
        self.mask_id = c.codebook_size
        self.tokens = nn.Embedding(c.codebook_size + 1, c.token_width)
        self.joint_pos = nn.Parameter(torch.randn(c.num_joints, c.token_width) * 0.02)
        self.frame_in = nn.Linear(c.num_joints * c.token_width, c.width)
        self.frame_pos = nn.Parameter(torch.randn(c.token_frames, c.width) * 0.02)
        self.condition = ConditionEmbedding(c.width)
        layer = nn.TransformerEncoderLayer(c.width, c.heads, 4 * c.width, c.dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, c.depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(c.width)
        self.head = nn.Linear(c.width, c.num_joints * c.codebook_size)

    def forward(self, ids: torch.Tensor, cond: JumpCondition) -> torch.Tensor:
        b, length = ids.shape
        c = self.config
        assert length == c.num_tokens, (length, c.num_tokens)
        # 1. A token frame's J code embeddings (each with its joint's position) -> one vector.
        x = self.tokens(ids.reshape(b, c.token_frames, c.num_joints)) + self.joint_pos  # (B, N, J, e)
        x = self.frame_in(x.reshape(b, c.token_frames, -1)) + self.frame_pos  # (B, N, D)
        # 2. Condition tokens in front; 3. the transformer over time.
        x = torch.cat([self.condition(cond), x], dim=1)  # (B, 4 + N, D)
        x = self.norm(self.blocks(x)[:, 4:])
        # 4. Each frame vector -> logits of its J codes, back in the tokenizer's order.
        return self.head(x).reshape(b, length, c.codebook_size)  # (B, N * J, K)

    def guided_logits(self, ids: torch.Tensor, cond: JumpCondition, scale: float) -> torch.Tensor:
        """Classifier-free guidance: ``uncond + scale * (cond - uncond)`` (one batched pass)."""
        both = self(torch.cat([ids, ids]), _cat(cond, cond.null()))
        conditional, unconditional = both.chunk(2)
        return unconditional + scale * (conditional - unconditional)

    # ---- training

    def masked_loss(self, ids: torch.Tensor, cond: JumpCondition, generator: torch.Generator) -> torch.Tensor:
        """Cross-entropy on a cosine-scheduled random share of hidden ids ``(B, L)``."""
        b, length = ids.shape
        share = torch.cos(0.5 * math.pi * torch.rand(b, generator=generator))  # (B,) in (0, 1]
        count = torch.clamp((share * length).ceil().long(), min=1)
        order = torch.rand(b, length, generator=generator).argsort(dim=1)
        hidden = order.argsort(dim=1) < count[:, None]  # (B, L) the `count` hidden per row
        roll = torch.rand(b, length, generator=generator)
        noisy = torch.where(hidden & (roll < 0.8), torch.full_like(ids, self.mask_id), ids)
        random_ids = torch.randint(0, self.config.codebook_size, ids.shape, generator=generator)
        noisy = torch.where(hidden & (roll >= 0.8) & (roll < 0.9), random_ids, noisy)
        drop = cond.dropped(self.config.cond_dropout, self.config.height_dropout, generator)
        logits = self(noisy.to(ids.device), drop.to(ids.device))
        return F.cross_entropy(logits[hidden], ids[hidden])

    # ---- sampling

    @torch.no_grad()
    def sample(self, cond: JumpCondition, steps: int = 10, guidance: float = 1.0, temperature: float = 1.0,
               choice_noise: float = 2.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """Code ids ``(B, L)`` by iterative unmasking: at step ``s`` of ``steps`` the
        ``L cos(pi/2 (s+1)/steps)`` least confident ids go back to [MASK]; confidences get
        Gumbel noise that fades over the steps (``choice_noise``), for variety."""
        b, length = len(cond.type), self.config.num_tokens
        device = self.head.weight.device
        cond = cond.to(device)
        ids = torch.full((b, length), self.mask_id, dtype=torch.long, device=device)
        for step in range(steps):
            hidden = ids == self.mask_id
            logits = self.guided_logits(ids, cond, guidance) / max(temperature, 1e-6)
            probs = logits.float().softmax(-1)
            drawn = torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=generator).reshape(b, length)
            drawn = torch.where(hidden, drawn, ids)
            confidence = probs.gather(-1, drawn[..., None])[..., 0].clamp_min(1e-12).log()
            fade = choice_noise * (1.0 - (step + 1) / steps)
            u = torch.rand(confidence.shape, generator=generator).to(device).clamp(1e-9, 1 - 1e-9)
            confidence = confidence + fade * -torch.log(-torch.log(u))
            confidence = torch.where(hidden, confidence, torch.full_like(confidence, math.inf))
            keep_hidden = int(length * math.cos(0.5 * math.pi * (step + 1) / steps))
            ids = drawn
            if keep_hidden > 0:
                rehide = confidence.argsort(dim=1)[:, :keep_hidden]
                ids = ids.scatter(1, rehide, self.mask_id)
        return ids

    # ---- files

    def save_pretrained(self, folder: str | Path) -> None:
        """``config.json`` + ``model.safetensors`` into ``folder`` (which must exist)."""
        from safetensors.torch import save_file

        folder = Path(folder)
        (folder / CONFIG_NAME).write_text(json.dumps({"_class_name": type(self).__name__, **asdict(self.config)},
                                                     indent=2) + "\n")
        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        save_file(state, str(folder / WEIGHTS_NAME), metadata={"format": "pt"})

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "JumpGenerator":
        from dataclasses import fields

        from sportanim.io.tensors import load_small_model

        folder = Path(folder)
        if not (folder / CONFIG_NAME).is_file() or not (folder / WEIGHTS_NAME).is_file():
            raise FileNotFoundError(f"{folder} holds no jump generator ({CONFIG_NAME} + {WEIGHTS_NAME}); "
                                    "train one with `sportanim motion train`")
        known = {f.name for f in fields(GeneratorConfig)}

        def build(raw: dict) -> "JumpGenerator":
            unknown = sorted(set(raw) - known - {"_class_name"})
            if unknown:
                raise ValueError(f"{folder / CONFIG_NAME} has unknown config keys {unknown}")
            config = GeneratorConfig(**{k: v for k, v in raw.items() if k in known})
            if not (isinstance(config.depth, int) and 1 <= config.depth <= MAX_DEPTH):
                # each layer is copied even on the meta device: a huge depth would build for hours
                raise ValueError(f"{folder / CONFIG_NAME}: depth must be in [1, {MAX_DEPTH}], got {config.depth!r}")
            return cls(config)

        return load_small_model(folder, build)


def _cat(a: JumpCondition, b: JumpCondition) -> JumpCondition:
    return JumpCondition(*(torch.cat([x, y]) for x, y in zip(
        (a.type, a.revolutions, a.direction, a.height), (b.type, b.revolutions, b.direction, b.height))))
