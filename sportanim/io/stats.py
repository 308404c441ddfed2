"""``stats.json``: per-joint mean/std (24, 3) in mm, and whatever else a writer adds (an FSJD
dataset's clip counts, an export's source). One reader, one validator, one writer.

Format::

    {"mean": [[x, y, z] x 24], "std": [[x, y, z] x 24], ...}

Upstream MTVCrafter keeps the same numbers as ``mean.npy`` + ``std.npy``; a folder holding
those (and no ``stats.json``) reads the same way.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from sportanim.io.files import FormatError, json_default, write_text
from sportanim.skeleton import NUM_JOINTS

STATS_NAME = "stats.json"
UPSTREAM_NAMES = ("mean.npy", "std.npy")


def read_stats(path: str | os.PathLike) -> dict:
    """The JSON object of a ``stats.json`` file (or of ``path/stats.json`` for a folder).
    ``FileNotFoundError`` if missing, ``FormatError`` if it is not a JSON object."""
    path = _stats_file(Path(path))
    if not path.is_file():
        raise FileNotFoundError(f"stats file not found: {path}; compute it with `sportanim data "
                                "stats` or give the stats.json path")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise FormatError(f"{path}: not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise FormatError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def has_joint_stats(folder: str | os.PathLike) -> bool:
    """True if ``folder`` holds a ``stats.json`` or upstream's ``mean.npy`` + ``std.npy``."""
    folder = Path(folder)
    return (folder / STATS_NAME).is_file() or all((folder / n).is_file() for n in UPSTREAM_NAMES)


def read_joint_stats(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, std)`` float64 (24, 3) mm from a ``stats.json``, a folder holding one, or a
    folder holding upstream's ``mean.npy`` + ``std.npy``; checked by ``check_joint_stats``.
    ``FileNotFoundError`` if there is none, ``FormatError`` for a malformed one."""
    path = Path(path)
    if path.is_dir() and not (path / STATS_NAME).is_file() and (path / UPSTREAM_NAMES[0]).is_file():
        return _read_upstream(path)
    data = read_stats(path)
    path = _stats_file(path)
    try:
        return check_joint_stats(data["mean"], data["std"], str(path))
    except KeyError as error:
        raise FormatError(f"{path}: no {error} entry; a stats file holds 'mean' and 'std' "
                          f"({NUM_JOINTS}, 3) lists in mm") from None


def _read_upstream(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """``mean.npy`` + ``std.npy``, each (24, 3)."""
    try:
        mean, std = (np.load(folder / name, allow_pickle=False) for name in UPSTREAM_NAMES)
    except FileNotFoundError:
        raise FileNotFoundError(f"{folder}: {UPSTREAM_NAMES[1]} is missing beside "
                                f"{UPSTREAM_NAMES[0]}") from None
    except (OSError, ValueError) as error:
        raise FormatError(f"{folder}: unreadable mean.npy/std.npy ({error})") from None
    return check_joint_stats(mean, std, f"{folder}/mean.npy, std.npy")


# A joint coordinate of human motion that varies by less than 10 um over a dataset, or
# statistics beyond 100 m, are a broken file: normalising by them sends training to NaN.
MIN_STD_MM = 0.01
MAX_MM = 1e5


def check_joint_stats(mean, std, where: str) -> tuple[np.ndarray, np.ndarray]:
    """``mean``/``std`` as float64 (24, 3) arrays; ``FormatError`` naming ``where`` unless
    both have that shape, are finite and ``std > 0`` everywhere (it divides)."""
    try:
        mean, std = np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise FormatError(f"{where}: mean/std must be ({NUM_JOINTS}, 3) lists of numbers "
                          f"({error})") from None
    if mean.shape != (NUM_JOINTS, 3) or std.shape != (NUM_JOINTS, 3):
        raise FormatError(f"{where}: mean/std must be ({NUM_JOINTS}, 3), got {mean.shape} "
                          f"and {std.shape}")
    if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
        raise FormatError(f"{where}: mean/std must be finite and std > 0 for every joint and axis")
    if std.min() < MIN_STD_MM or std.max() > MAX_MM or np.abs(mean).max() > MAX_MM:
        raise FormatError(f"{where}: implausible joint statistics for a body in millimetres (std "
                          f"{std.min():.3g}..{std.max():.3g}, |mean| up to {np.abs(mean).max():.3g}; expected std "
                          f">= {MIN_STD_MM:g} and values within {MAX_MM:g} mm); recompute them with "
                          "`sportanim data stats DIR`")
    return mean, std


def write_stats(path: str | os.PathLike, stats: dict) -> Path:
    """Write ``stats`` to a ``stats.json`` file (or ``path/stats.json`` for a folder)
    atomically and byte-deterministically: sorted keys, indent 2, ASCII, plain lists and
    floats (numpy arrays and scalars are converted). ``ValueError`` for NaN/inf."""
    path = _stats_file(Path(path))
    try:
        text = json.dumps(stats, indent=2, sort_keys=True, allow_nan=False, default=json_default)
    except ValueError as error:
        raise ValueError(f"{path}: stats must hold finite numbers only ({error})") from None
    return write_text(path, text + "\n", make_parents=False)


def _stats_file(path: Path) -> Path:
    return path / STATS_NAME if path.is_dir() else path

