"""FSJD: the dataset folder format (figure-skating jumps + daily motion).

Layout::

    DIR/manifest.jsonl   one ClipRecord per line (JSON), see ``ClipRecord``
    DIR/clips/ID.mp4     the clip's video, H.264 (``sportanim.io.video.write_video``)
    DIR/clips/ID.npz     "joints" float32 (frames, 24, 3), camera space, mm;
                         "intrinsics" float32 (3, 3) or (frames, 3, 3);
                         optional extra arrays, e.g. "extrinsics" (frames, 3, 4)
    DIR/stats.json       joint mean/std (24, 3) and clip counts per split and label

Every file is written atomically (temporary sibling, then ``os.replace``) and
byte-deterministically: the same inputs give the same bytes. ``output_dir`` builds a
whole dataset folder in a temporary sibling and moves it into place only on success.
The file I/O itself (video, joints npz, stats.json, atomic writes) lives in ``sportanim.io``;
this module adds the format: records, manifest, layout and the checks between them.
"""

from __future__ import annotations

import contextlib
import json
import math
import numbers
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from sportanim.io import stats as stats_io
from sportanim.io.files import FormatError, atomic_dir, write_npz, write_text
from sportanim.io.joints import read_arrays, read_joints, validate_arrays
from sportanim.io.stats import STATS_NAME
from sportanim.io.video import read_video, write_video
from sportanim.skeleton import NUM_JOINTS

MANIFEST_NAME = "manifest.jsonl"
CLIPS_DIR = "clips"
SPLITS = ("train", "eval")
DOMAINS = ("jump", "daily")
# Every record carries these labels; the ones a source cannot know are None (null).
LABEL_KEYS = ("domain", "motion", "revolutions", "takeoff_frame", "landing_frame", "athlete")
# Ids become file names: letters, digits, '_', '-', '.', not starting with '.'.
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


# ---------------------------------------------------------------------------- records


@dataclass(kw_only=True)
class ClipRecord:
    """One manifest line. ``video``/``joints`` default to ``clips/ID.mp4``/``clips/ID.npz``
    (paths relative to the dataset folder); ``size`` is ``(width, height)``; ``labels``
    always holds every key of ``LABEL_KEYS`` (missing ones become None)."""

    id: str
    video: str = ""
    joints: str = ""
    fps: float
    size: tuple[int, int]
    frames: int
    split: str
    labels: dict = field(default_factory=dict)
    source: dict = field(default_factory=dict)
    quality: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (isinstance(self.id, str) and _SAFE_ID.fullmatch(self.id)):
            raise ValueError(f"clip id {self.id!r} is not a safe file name: use 1-128 "
                             "letters, digits, '_', '-', '.', not starting with '.'")
        self.video = self.video or f"{CLIPS_DIR}/{self.id}.mp4"
        self.joints = self.joints or f"{CLIPS_DIR}/{self.id}.npz"
        self._check_types()
        self.fps = float(self.fps)
        self.size = (int(self.size[0]), int(self.size[1]))
        self.frames = int(self.frames)
        self.labels = {**{key: None for key in LABEL_KEYS}, **self.labels}
        self._check_values()

    def _check_types(self) -> None:
        """Raise ``ValueError`` (naming the clip) for fields of the wrong type."""
        where = f"clip {self.id}"
        for name in ("video", "joints"):
            if not _is_relative_inside(getattr(self, name)):
                raise ValueError(f"{where}: {name} path {getattr(self, name)!r} must be "
                                 "relative to the dataset folder, without '..'")
        if not (isinstance(self.fps, numbers.Real) and math.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"{where}: fps must be a positive number, got {self.fps!r}")
        size = self.size
        if not (isinstance(size, (list, tuple)) and len(size) == 2
                and all(_is_int(v) and v > 0 for v in size)):
            raise ValueError(f"{where}: size must be [width, height] > 0, got {size!r}")
        if not (_is_int(self.frames) and self.frames >= 1):
            raise ValueError(f"{where}: frames must be an integer >= 1, got {self.frames!r}")
        for name in ("labels", "source", "quality"):
            if not isinstance(getattr(self, name), dict):
                raise ValueError(f"{where}: {name} must be a JSON object (dict), "
                                 f"got {getattr(self, name)!r}")

    def _check_values(self) -> None:
        """Raise ``ValueError`` (naming the clip) for out-of-range split and labels."""
        where = f"clip {self.id}"
        if self.split not in SPLITS:
            raise ValueError(f"{where}: split must be one of {SPLITS}, got {self.split!r}")
        if self.labels["domain"] not in (*DOMAINS, None):
            raise ValueError(f"{where}: labels.domain must be one of {DOMAINS} or null, "
                             f"got {self.labels['domain']!r}")
        for key in ("takeoff_frame", "landing_frame"):
            value = self.labels[key]
            if value is not None and not (_is_int(value) and 0 <= value < self.frames):
                raise ValueError(f"{where}: labels.{key} must be null or a frame index in "
                                 f"0..{self.frames - 1}, got {value!r}")

    def to_dict(self) -> dict:
        """The record as a JSON-ready dict, keys in the format's order."""
        return {
            "id": self.id, "video": self.video, "joints": self.joints, "fps": self.fps,
            "size": list(self.size), "frames": self.frames, "split": self.split,
            "labels": self.labels, "source": self.source, "quality": self.quality,
        }

    def to_json(self) -> str:
        """The record as one line of JSON (no newline)."""
        try:
            return json.dumps(self.to_dict(), ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise ValueError(f"clip {self.id}: cannot write as JSON: {error}") from None

    @classmethod
    def from_json(cls, line: str | dict) -> ClipRecord:
        """Parse one manifest line (or its dict); ``FormatError`` if it is malformed."""
        try:
            data = json.loads(line) if isinstance(line, str) else line
        except json.JSONDecodeError as error:
            raise FormatError(f"not valid JSON: {error}") from None
        if not isinstance(data, dict):
            raise FormatError(f"expected a JSON object, got {type(data).__name__}")
        fields = cls.__dataclass_fields__
        missing = [name for name in fields if name not in data]
        unknown = [name for name in data if name not in fields]
        if missing or unknown:
            problems = [f"{what} fields {names}" for what, names in
                        (("missing", missing), ("unknown", unknown)) if names]
            raise FormatError(f"clip {data.get('id')!r}: {', '.join(problems)}")
        try:
            return cls(**data)
        except (TypeError, ValueError) as error:
            raise FormatError(str(error)) from None


def _is_int(value: object) -> bool:
    """True for Python/numpy integers (not bools)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_relative_inside(path: str) -> bool:
    """True for a relative POSIX path that stays inside its folder."""
    if not (isinstance(path, str) and path):
        return False
    pure = PurePosixPath(path)
    return not pure.is_absolute() and ".." not in pure.parts


# ------------------------------------------------------------------------------ clips


def write_clip(root: str | os.PathLike, record: ClipRecord, frames: np.ndarray,
               joints: np.ndarray, intrinsics: np.ndarray,
               extras: dict[str, np.ndarray] | None = None, crf: int = 12) -> ClipRecord:
    """Write ``record.video`` (frames uint8 ``(frames, height, width, 3)``) and
    ``record.joints`` (npz: joints ``(frames, 24, 3)`` mm, intrinsics ``(3, 3)`` or
    ``(frames, 3, 3)``, float32, plus ``extras``) under ``root``. Returns ``record``."""
    root = Path(root)
    arrays = validate_arrays(joints, intrinsics, extras, f"clip {record.id}", record.frames)
    expected = (record.frames, record.size[1], record.size[0], 3)
    if np.shape(frames) != expected:
        raise ValueError(f"clip {record.id}: frames have shape {np.shape(frames)}, the record "
                         f"says {expected} (frames, height, width, 3)")
    for relative in (record.video, record.joints):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
    write_video(root / record.video, frames, record.fps, crf=crf)
    write_npz(root / record.joints, arrays)
    return record


def load_clip(root: str | os.PathLike, record_or_id: ClipRecord | str) -> dict[str, np.ndarray]:
    """Load one clip: ``frames`` uint8 ``(T, H, W, 3)``, ``joints`` float32 ``(T, 24, 3)``,
    ``intrinsics`` ``(3, 3)`` or ``(T, 3, 3)``, and any extra arrays by name. An id is
    looked up in the manifest. ``FormatError`` if the files disagree with the record."""
    root = Path(root)
    record = record_or_id
    if not isinstance(record, ClipRecord):
        record = _find_record(root, record_or_id)
    arrays = read_arrays(root / record.joints, where=f"clip {record.id}")
    frames, _ = read_video(root / record.video)
    _check_loaded(record, frames, arrays)
    return {"frames": frames, **arrays}


def _find_record(root: Path, clip_id: str) -> ClipRecord:
    """The manifest record with id ``clip_id``; ``KeyError`` if there is none."""
    for record in read_manifest(root):
        if record.id == clip_id:
            return record
    raise KeyError(f"clip {clip_id!r} is not in {root / MANIFEST_NAME}")


def _check_loaded(record: ClipRecord, frames: np.ndarray, arrays: dict) -> None:
    """``FormatError`` unless the loaded video and arrays match the record's shapes."""
    where, t = f"clip {record.id}", record.frames
    expected = (t, record.size[1], record.size[0], 3)
    if frames.shape != expected:
        raise FormatError(f"{where}: video {record.video} decodes to {frames.shape}, the "
                          f"record says {expected}; re-create the clip")
    for name, shapes in (("joints", [(t, NUM_JOINTS, 3)]), ("intrinsics", [(3, 3), (t, 3, 3)])):
        if name not in arrays or arrays[name].shape not in shapes:
            got = arrays[name].shape if name in arrays else "nothing"
            raise FormatError(f"{where}: {record.joints} holds {name} {got}, expected "
                              f"{' or '.join(map(str, shapes))}; re-create the clip")


# --------------------------------------------------------------------------- manifest


def append_manifest(root: str | os.PathLike, record: ClipRecord) -> None:
    """Append ``record`` as one line to ``root/manifest.jsonl`` (created if missing).
    One small write: a crash can at worst leave a cut last line, which
    ``read_manifest`` reports by line number. Duplicate ids are caught on reading."""
    path = Path(root) / MANIFEST_NAME
    line = record.to_json() + "\n"
    with open(path, "a+b") as file:
        if file.tell() > 0:
            file.seek(-1, os.SEEK_END)
            if file.read(1) != b"\n":
                line = "\n" + line
        file.write(line.encode("utf-8"))


def write_manifest(root: str | os.PathLike, records: Iterable[ClipRecord]) -> None:
    """Atomically (re)write ``root/manifest.jsonl`` with ``records``, in the given order."""
    records = list(records)
    _check_unique_ids([record.id for record in records], "records")
    text = "".join(record.to_json() + "\n" for record in records)
    write_text(Path(root) / MANIFEST_NAME, text, make_parents=False)


def read_manifest(root: str | os.PathLike) -> list[ClipRecord]:
    """All records of ``root/manifest.jsonl`` (blank lines are skipped).
    ``FormatError`` naming the file and line for a malformed line or a repeated id."""
    path = Path(root) / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no {MANIFEST_NAME} in {root}; is it an FSJD dataset folder?")
    records, first_line = [], {}
    with open(path, encoding="utf-8") as file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                record = ClipRecord.from_json(line)
            except FormatError as error:
                raise FormatError(f"{path}:{number}: {error}") from None
            if record.id in first_line:
                raise FormatError(f"{path}:{number}: clip id {record.id!r} repeats line "
                                  f"{first_line[record.id]}")
            _check_links_stay_inside(Path(root), record, f"{path}:{number}")
            first_line[record.id] = number
            records.append(record)
    return records


def _check_links_stay_inside(root: Path, record: ClipRecord, where: str) -> None:
    """A clip's files must be the folder's own: a symlink leading out of it (to another
    dataset, or to /etc) is refused before any reader follows it."""
    inside = root.resolve()
    for relative in (record.video, record.joints):
        target = root / relative
        if (target.is_symlink() or target.exists()) and not target.resolve().is_relative_to(inside):
            raise FormatError(f"{where}: clip {record.id}'s {relative} is a link leading outside {root}; "
                              "copy the file into the dataset folder instead")


def _check_unique_ids(ids: list[str], what: str) -> None:
    """``ValueError`` if an id occurs twice in ``ids``."""
    repeated = sorted(clip_id for clip_id, n in Counter(ids).items() if n > 1)
    if repeated:
        raise ValueError(f"{what} repeat clip ids {repeated[:5]}; ids must be unique")


# ------------------------------------------------------------------------------ stats


def compute_stats(root: str | os.PathLike, records: Iterable[ClipRecord]) -> dict:
    """Joint ``mean``/``std`` (24, 3) over every frame of ``records`` (float64, population
    std; nested lists) and ``counts``: clips ``total``, ``frames``, and clips per
    ``split``, ``domain`` and ``motion`` (unknown labels count as "null")."""
    records = list(records)
    if not records:
        raise ValueError("compute_stats needs at least one clip")
    count, mean, m2 = 0, np.zeros((NUM_JOINTS, 3)), np.zeros((NUM_JOINTS, 3))
    for record in records:
        joints = read_joints(Path(root) / record.joints, f"clip {record.id}", record.frames)
        count, mean, m2 = _merge_moments(count, mean, m2, joints.astype(np.float64))
    return {
        "mean": mean.tolist(),
        "std": np.sqrt(m2 / count).tolist(),
        "counts": _label_counts(records, count),
    }


def _merge_moments(count: int, mean: np.ndarray, m2: np.ndarray,
                   joints: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """Add a clip ``(T, 24, 3)`` to running (count, mean, sum of squared deviations),
    with Chan et al.'s pairwise update (stable for large offsets such as depth in mm)."""
    n = len(joints)
    clip_mean = joints.mean(axis=0)
    clip_m2 = ((joints - clip_mean) ** 2).sum(axis=0)
    total = count + n
    delta = clip_mean - mean
    return total, mean + delta * (n / total), m2 + clip_m2 + delta**2 * (count * n / total)


def _label_counts(records: list[ClipRecord], frames: int) -> dict:
    """Clip counts: total, frames, and per split / domain / motion (sorted keys)."""
    def tally(values: Iterable) -> dict[str, int]:
        counter = Counter("null" if value is None else str(value) for value in values)
        return dict(sorted(counter.items()))

    return {
        "total": len(records),
        "frames": frames,
        "split": tally(record.split for record in records),
        "domain": tally(record.labels["domain"] for record in records),
        "motion": tally(record.labels["motion"] for record in records),
    }


def write_stats(root: str | os.PathLike, stats: dict) -> None:
    """Atomically write ``stats`` to ``root/stats.json`` (``sportanim.io.stats.write_stats``:
    sorted keys, plain lists and floats), byte-deterministic."""
    stats_io.write_stats(Path(root) / STATS_NAME, stats)


def read_stats(root: str | os.PathLike) -> dict:
    """``root/stats.json`` as a dict; ``FormatError`` if it is not a JSON object."""
    return stats_io.read_stats(Path(root) / STATS_NAME)


# ------------------------------------------------------------------------ output dirs


@contextlib.contextmanager
def output_dir(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Build a dataset folder with nothing half-written (``sportanim.io.files.atomic_dir``):
    yields a fresh hidden sibling; on success it becomes ``path`` (replacing an existing
    folder only if empty or ``overwrite``), on an exception it is removed. The target is
    checked before the body runs."""
    with atomic_dir(path, overwrite=overwrite) as tmp:
        yield tmp
