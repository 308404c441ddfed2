"""The frozen 4DMoT the jump generator writes codes for: joints <-> code ids.

A weights folder is either a pipeline folder (``tokenizer/`` + ``stats.json`` beside it, as
the shipped tiny base) or a tokenizer export (``config.json`` + ``stats.json`` inside). The
joints are normalised with the statistics the tokenizer was trained with.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from sportanim import fsjd
from sportanim.io.stats import read_joint_stats
from sportanim.models.tokenizer import WEIGHTS_NAME, MotionTokenizer


class FrozenTokenizer:
    """Canonical-camera joints ``(B, T, 24, 3)`` mm <-> code ids ``(B, N * 24)``."""

    def __init__(self, folder: str | Path, device: str = "cpu"):
        folder = Path(folder)
        tok_dir = folder / "tokenizer" if (folder / "tokenizer" / WEIGHTS_NAME).is_file() else folder
        if not (tok_dir / WEIGHTS_NAME).is_file() or not (folder / fsjd.STATS_NAME).is_file():
            raise FileNotFoundError(f"{folder} is not a tokenizer folder: need {tok_dir / WEIGHTS_NAME} and "
                                    f"{folder / fsjd.STATS_NAME} (a pipeline weights folder or a tokenizer export)")
        self.folder, self.tokenizer_dir = folder, tok_dir
        self.model = MotionTokenizer.from_pretrained(tok_dir, device=device)
        self.model.requires_grad_(False)
        mean, std = read_joint_stats(folder)
        self.mean, self.std = mean.astype(np.float32), std.astype(np.float32)
        self.sha256 = hashlib.sha256((tok_dir / WEIGHTS_NAME).read_bytes()).hexdigest()

    def copy_to(self, dest: str | Path) -> Path:
        """Write this tokenizer as a self-contained export at ``dest`` (weights, config, stats)."""
        import shutil

        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        for item in self.tokenizer_dir.iterdir():
            if item.is_file() and item.suffix in (".json", ".safetensors"):
                shutil.copy2(item, dest / item.name)
        shutil.copy2(self.folder / fsjd.STATS_NAME, dest / fsjd.STATS_NAME)
        return dest

    @property
    def codebook_size(self) -> int:
        return self.model.config.codebook_size

    def token_frames(self, frames: int) -> int:
        return self.model.token_frames(frames)

    @torch.no_grad()
    def encode(self, joints_mm: np.ndarray, batch: int = 64) -> np.ndarray:
        """``(B, T, 24, 3)`` mm -> int64 ids ``(B, N * 24)``."""
        out = []
        for start in range(0, len(joints_mm), batch):
            x = torch.from_numpy((joints_mm[start:start + batch] - self.mean) / self.std).float()
            out.append(self.model.encode(x)[0].cpu().numpy())
        return np.concatenate(out).astype(np.int64)

    @torch.no_grad()
    def decode(self, ids: torch.Tensor) -> np.ndarray:
        """ids ``(B, N * 24)`` -> float32 joints ``(B, T, 24, 3)`` mm."""
        y = self.model.decode(ids.to(self.model.device)).float().cpu().numpy()
        return (y * self.std + self.mean).astype(np.float32)
