"""Train the jump generator: jump clips -> canonical camera -> frozen 4DMoT ids -> masked
token modelling. ``train_motion_generator(data_dirs, out)`` writes a loadable folder:
``config.json`` + ``model.safetensors`` (:class:`JumpGenerator`), ``record.json`` (data,
command, seed, wall time, losses, sha256 of the weights and of the tokenizer they fit) and
``tokenizer/``, a copy of the frozen tokenizer, so the folder moves as one."""

from __future__ import annotations

import hashlib
import json
import math
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from sportanim.io.files import atomic_dir
from sportanim.motion import frames
from sportanim.motion.clips import JumpClip, count_by_source, load_jump_clips
from sportanim.motion.generator import (DIRECTIONS, JUMP_NAMES, REVOLUTION_VALUES, WEIGHTS_NAME, GeneratorConfig,
                                        JumpCondition, JumpGenerator)
from sportanim.motion.tokens import FrozenTokenizer
from sportanim.progress import progress_bar

RECORD_NAME = "record.json"
TOKENIZER_DIR = "tokenizer"  # the frozen tokenizer's copy inside a generator folder


def default_tokenizer() -> Path:
    from sportanim.weights import default_weights

    return default_weights()


def conditions_of(clips: list[JumpClip]) -> JumpCondition:
    return JumpCondition(
        torch.tensor([JUMP_NAMES.index(c.type) for c in clips]),
        torch.tensor([REVOLUTION_VALUES.index(c.revolutions) for c in clips]),
        torch.tensor([DIRECTIONS.index(c.direction) for c in clips]),
        torch.tensor([c.height for c in clips], dtype=torch.float32))


def encode_clips(tokenizer: FrozenTokenizer, clips: list[JumpClip]) -> np.ndarray:
    """Code ids ``(N, L)`` of the clips seen by the canonical camera."""
    cams = np.stack([frames.world_to_canonical(c.world) for c in clips])
    return tokenizer.encode(cams)


def element_weights(clips: list[JumpClip]) -> torch.Tensor:
    """Per clip ``1 / (clips of its element)``: each element drawn equally often."""
    counts = Counter((c.type, c.revolutions) for c in clips)
    return torch.tensor([1.0 / counts[(c.type, c.revolutions)] for c in clips], dtype=torch.float64)


def train_motion_generator(data_dirs, out, seed: int = 0, steps: int = 2000, batch_size: int = 32,
                           lr: float = 5e-4, tokenizer: str | Path | None = None,
                           config: GeneratorConfig | None = None, overwrite: bool = False,
                           show_progress: bool = True, command: str | None = None, balanced: bool = False) -> dict:
    """Train on every jump clip of ``data_dirs`` (FSJD folders, both rotation directions)
    and write the generator to ``out``; returns the record. Nothing is left at ``out``
    unless training finished. ``balanced``: draw clips so every element (type, revolutions)
    comes up equally often (quads are rare in the data, as on the ice)."""
    if steps < 1 or batch_size < 1:
        raise ValueError(f"--steps and --batch-size must be >= 1, got {steps} and {batch_size}")
    started = time.time()
    torch.manual_seed(seed)
    tok = FrozenTokenizer(tokenizer or default_tokenizer())
    # 1. Data: every clip (and its mirror) as frozen code ids + its condition.
    clips = load_jump_clips(data_dirs, frames_wanted=None)
    lengths = {len(c.world) for c in clips}
    if len(lengths) != 1:
        raise ValueError(f"jump clips of {sorted(lengths)} frames: train on one clip length (re-import with --frames)")
    ids = torch.from_numpy(encode_clips(tok, clips))
    cond = conditions_of(clips)
    # 2. Model sized by the tokenizer.
    base = config or GeneratorConfig()
    cfg = GeneratorConfig(**{**base.__dict__, "codebook_size": tok.codebook_size,
                             "token_frames": tok.token_frames(lengths.pop()),
                             "tokenizer": {"folder": TOKENIZER_DIR, "sha256": tok.sha256}})
    model = JumpGenerator(cfg).train()
    optim = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.99), weight_decay=0.01)
    warmup = min(100, steps // 10 + 1)
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s / steps, 1.0))))
    gen = torch.Generator().manual_seed(seed)
    weights = element_weights(clips) if balanced else None
    # 3. Train.
    losses = []
    with progress_bar(f"motion generator {steps} steps", total=steps, enabled=show_progress) as advance:
        for _ in range(steps):
            rows = (torch.randint(0, len(ids), (batch_size,), generator=gen) if weights is None
                    else torch.multinomial(weights, batch_size, replacement=True, generator=gen))
            loss = model.masked_loss(ids[rows], cond.index(rows), gen)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optim.step()
            sched.step()
            losses.append(loss.item())
            advance(1)
    # 4. Write weights and record.
    model.eval()
    record = {
        "command": command or " ".join(sys.argv), "seed": seed, "steps": steps, "batch_size": batch_size, "lr": lr,
        "data": [str(d) for d in data_dirs], "clips": len(clips),
        "sampling": "balanced by element" if balanced else "uniform over clips",
        "clips_by_source": count_by_source(clips),
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "seconds": round(time.time() - started, 1),
        "loss_first_50": round(float(np.mean(losses[:50])), 4), "loss_last_50": round(float(np.mean(losses[-50:])), 4),
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    with atomic_dir(out, overwrite=overwrite) as tmp:
        model.save_pretrained(tmp)
        tok.copy_to(tmp / TOKENIZER_DIR)
        record["sha256"] = {WEIGHTS_NAME: hashlib.sha256((tmp / WEIGHTS_NAME).read_bytes()).hexdigest()}
        (tmp / RECORD_NAME).write_text(json.dumps(record, indent=2) + "\n")
    return record
