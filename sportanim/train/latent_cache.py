"""On-disk cache of what frozen models make of each training window.

The VAE and the 4DMoT do not change while the MV-DiT trains, so a window's VAE posterior
(mean, std) and motion tokens are computed once and read back in later epochs. Entries
live in ``FOLDER/<kind>-<model hash>/<window key>.safetensors``: the model hash covers the
weights, config, dtype and device type, the window key the content (``ClipsDataset``), so
changed weights or a re-created clip simply miss and recompute. Entries are written
atomically (``sportanim.io.files.atomic_file``), so a kill never leaves half an entry, and
processes that compute the same entry at once write equal bytes (each to its own temporary).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from sportanim.io.files import atomic_file


def model_hash(model: nn.Module, config: dict | None = None) -> str:
    """Hash of ``model``'s state (names, dtypes, values), ``config`` and device type."""
    h = hashlib.sha256(json.dumps(config or {}, sort_keys=True, default=str).encode())
    for name, tensor in model.state_dict().items():
        t = tensor.detach()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}:{t.device.type};".encode())
        h.update(t.cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:16]


class LatentCache:
    """``get(kind, model_key, key, compute)``: the cached tensors, or ``compute()``'s, stored.
    ``folder=None``: no cache (always computes). Counts ``hits`` and ``misses``."""

    def __init__(self, folder: str | Path | None):
        self.folder = Path(folder) if folder is not None else None
        self.hits = self.misses = 0

    def get(self, kind: str, model_key: str, key: str, compute: Callable[[], dict[str, torch.Tensor]],
            device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
        from safetensors.torch import load_file, save_file

        if self.folder is None:
            self.misses += 1
            return compute()
        path = self.folder / f"{kind}-{model_key}" / f"{key}.safetensors"
        if path.is_file():
            try:
                found = load_file(str(path), device=str(device))
                self.hits += 1
                return found
            except Exception:  # an unreadable entry (disk trouble): recompute and rewrite it
                pass
        self.misses += 1
        value = compute()
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with atomic_file(path) as tmp:
                save_file({k: v.detach().cpu().contiguous() for k, v in value.items()}, str(tmp))
        except OSError:  # a full disk costs speed, not the run: the value is still returned
            pass
        return value
