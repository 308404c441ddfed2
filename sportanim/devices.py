"""The one check of a ``--device`` value (generation, the studio, data build's NLF backend),
done before any work: a device torch does not know, or a GPU that is not here, is one line."""

from __future__ import annotations


def check_device(device: str) -> str:
    """``device`` as torch spells it, ``auto`` resolved to ``cuda`` when a GPU is present, else
    ``cpu``; ``ValueError`` naming ``--device`` for anything but cpu or an existing cuda:N."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"--device {device!r} is not a device; use auto, cpu, cuda or cuda:N") from None
    if parsed.type not in ("cpu", "cuda"):
        raise ValueError(f"--device {device!r}: only cpu and cuda are supported")
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"--device {device}: no CUDA GPU is available here; use --device cpu")
        if parsed.index is not None and parsed.index >= count:
            raise ValueError(f"--device {device}: this machine has {count} GPU(s), cuda:0..cuda:{count - 1}")
    return device
