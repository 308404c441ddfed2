"""Atomic text and JSON writes for results, tables and reports: a crash never leaves a
half-written file that a later run (or a reader) would take for a finished one."""

from __future__ import annotations

import json
import os
from pathlib import Path

from sportanim.video_io import atomic_path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary sibling; creates the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def write_json(data, path: str | os.PathLike) -> Path:
    """Indented, finite-only JSON (a NaN would mean a bug upstream: fail loudly), atomically."""
    return write_text(path, json.dumps(data, indent=2, allow_nan=False, ensure_ascii=False) + "\n")
