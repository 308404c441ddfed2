"""``torch.save`` files read as plain tensors only (released checkpoints, extractor weights).

torch's weights-only reader refuses a pickle that would build anything but tensors and
containers; its refusal is several lines ending in advice to pass ``weights_only=False``,
which would run whatever the file holds. Here a refusal is one line without that advice.
"""

from __future__ import annotations

import warnings
from pathlib import Path


def load_plain_tensors(path: str | Path):
    """``torch.load(path, weights_only=True)`` on the CPU; ``ValueError`` (one line naming the
    file) for a file it refuses or cannot read."""
    import torch

    try:
        with warnings.catch_warnings():
            # a pickle protocol other than torch's own is warned about before it is read or refused
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(str(path), weights_only=True, map_location="cpu")
    except Exception as err:  # unpickling refusals, zip and struct errors: many types
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if "weights_only" in first or "Weights only load failed" in first:
            first = "it holds objects other than tensors, or is not a torch file"
        raise ValueError(f"{path}: not a plain tensor file; refused unread ({first[:200]})") from None
