"""Tensor files read with one-line refusals: ``torch.save`` files as plain tensors only
(released checkpoints, extractor weights), safetensors files, and small models saved as
``config.json`` + ``model.safetensors``.

torch's weights-only reader refuses a pickle that would build anything but tensors and
containers; its refusal is several lines ending in advice to pass ``weights_only=False``,
which would run whatever the file holds. Here a refusal is one line without that advice.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Callable

from sportanim.io.files import read_json_object

MAX_SMALL_MODEL_VALUES = 2**28  # 1 GB of float32: far above any small model sportanim trains


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
        first = _first_line(err)
        if "weights_only" in first or "Weights only load failed" in first:
            first = "it holds objects other than tensors, or is not a torch file"
        raise ValueError(f"{path}: not a plain tensor file; refused unread ({first[:200]})") from None


def read_safetensors(path: str | Path, shapes: dict[str, tuple[int, ...]] | None = None) -> dict:
    """The tensors of safetensors file ``path`` (CPU). ``ValueError`` naming the file for a
    truncated or corrupt one and, given ``shapes`` (name -> shape), for tensors whose names or
    shapes differ: checked from the header, before any data is read."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as file:
            if shapes is not None:
                found = {k: tuple(file.get_slice(k).get_shape()) for k in file.keys()}
                wrong = [k for k in shapes if found.get(k) != tuple(shapes[k])] + sorted(set(found) - set(shapes))
                if wrong:
                    k = wrong[0]
                    raise ValueError(f"{path}: tensor {k} is {found.get(k, 'missing')}, the model of its config "
                                     f"has {shapes.get(k, 'no such tensor')} ({len(wrong)} differ); keep the "
                                     "weights with the config.json saved beside them")
            return {k: file.get_tensor(k) for k in file.keys()}
    except SafetensorError as err:
        raise ValueError(f"{path}: not a readable safetensors file, truncated or corrupt ({_first_line(err)[:200]}); "
                         "copy or save the weights again") from None


def load_small_model(folder: str | Path, build: Callable[[dict], "torch.nn.Module"],
                     max_values: int = MAX_SMALL_MODEL_VALUES) -> "torch.nn.Module":
    """The model saved in ``folder`` as ``config.json`` + ``model.safetensors``, in eval mode;
    ``build(config)`` makes it from the JSON object. It is first made on the meta device: a
    config that cannot be built or holds more than ``max_values`` values, and weights that do
    not fit it, are refused in one line naming the file before anything is allocated."""
    import torch

    folder = Path(folder)
    config_path = folder / "config.json"
    config = read_json_object(config_path)
    try:
        with torch.device("meta"):
            shapes = {k: tuple(v.shape) for k, v in build(config).state_dict().items()}
    except (TypeError, RuntimeError, OverflowError, AssertionError, ZeroDivisionError) as err:
        raise ValueError(f"{config_path}: describes no model that can be built ({_first_line(err)[:200]}); "
                         "check the file") from None
    values = sum(math.prod(shape) for shape in shapes.values())
    if values > max_values:
        raise ValueError(f"{config_path}: describes a model of {values:,} values, above the {max_values:,} "
                         "this loader accepts; check the file")
    state = read_safetensors(folder / "model.safetensors", shapes)
    model = build(config)
    model.load_state_dict(state, strict=True)
    return model.eval()


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
