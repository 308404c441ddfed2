"""Jump annotations for ``sportanim data build --annotations CSV``.

The CSV has one row per motion to cut out: ``video,start,end,jump_type`` with ``start`` and
``end`` in seconds from the start of the video (take-off and landing for a jump, or the
span of any other motion); a header row naming those columns is optional, ``jump_type``
may be empty. ``video`` names the file by its path as given on the command line, its path
relative to a folder given there, its file name or its stem (the first that matches).
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Annotation", "read_annotations", "annotations_for"]

COLUMNS = ("video", "start", "end", "jump_type")


@dataclass(frozen=True)
class Annotation:
    """One CSV row: ``start``/``end`` seconds, ``jump_type`` (None when empty), ``line``."""

    video: str
    start: float
    end: float
    jump_type: str | None
    line: int


def read_annotations(path: str | os.PathLike) -> list[Annotation]:
    """Rows of the annotations CSV; ``ValueError`` naming the file and line of a bad row."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"annotations file not found: {path}; check the --annotations path")
    rows: list[Annotation] = []
    with open(path, newline="", encoding="utf-8-sig") as file:
        for number, row in enumerate(csv.reader(file), start=1):
            cells = [cell.strip() for cell in row]
            if not any(cells) or cells[0].startswith("#"):
                continue
            if number == 1 and [c.lower() for c in cells[:2]] == ["video", "start"]:
                continue  # header
            rows.append(_parse_row(cells, path, number))
    if not rows:
        raise ValueError(f"{path}: no annotation rows; expected lines of {','.join(COLUMNS)}")
    return rows


def _parse_row(cells: list[str], path: Path, number: int) -> Annotation:
    where = f"{path}:{number}"
    if len(cells) not in (3, 4) or not cells[0]:
        raise ValueError(f"{where}: expected {','.join(COLUMNS)} (jump_type may be empty), "
                         f"got {','.join(cells)!r}")
    try:
        start, end = float(cells[1]), float(cells[2])
    except ValueError:
        raise ValueError(f"{where}: start and end must be seconds, got {cells[1]!r}, "
                         f"{cells[2]!r}") from None
    if not (math.isfinite(start) and math.isfinite(end) and 0 <= start < end):
        raise ValueError(f"{where}: need 0 <= start < end seconds, got {start} and {end}")
    kind = cells[3] if len(cells) == 4 and cells[3] else None
    return Annotation(cells[0], start, end, kind, number)


def annotations_for(rows: list[Annotation], names: list[str]) -> list[Annotation]:
    """The rows whose ``video`` equals one of ``names`` (the video's ways to be named,
    most specific first: the first name any row uses wins)."""
    for name in names:
        hits = [row for row in rows if row.video == name]
        if hits:
            return sorted(hits, key=lambda row: (row.start, row.end))
    return []
