"""FSJD: the dataset folder format (figure-skating jumps + daily motion).

Layout::

    DIR/manifest.jsonl   one ClipRecord per line (JSON), see ``ClipRecord``
    DIR/clips/ID.mp4     the clip's video, H.264 (``video_io.write_video``)
    DIR/clips/ID.npz     "joints" float32 (frames, 24, 3), camera space, mm;
                         "intrinsics" float32 (3, 3) or (frames, 3, 3);
                         optional extra arrays, e.g. "extrinsics" (frames, 3, 4)
    DIR/stats.json       joint mean/std (24, 3) and clip counts per split and label

Every file is written atomically (temporary sibling, then ``os.replace``) and
byte-deterministically: the same inputs give the same bytes. ``output_dir`` builds a
whole dataset folder in a temporary sibling and moves it into place only on success.
"""

from __future__ import annotations

import contextlib
import json
import math
import numbers
import os
import re
import secrets
import shutil
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from sportanim.skeleton import NUM_JOINTS
from sportanim.video_io import atomic_path, read_video, write_video

MANIFEST_NAME = "manifest.jsonl"
STATS_NAME = "stats.json"
CLIPS_DIR = "clips"
SPLITS = ("train", "eval")
DOMAINS = ("jump", "daily")
# Every record carries these labels; the ones a source cannot know are None (null).
LABEL_KEYS = ("domain", "motion", "revolutions", "takeoff_frame", "landing_frame", "athlete")
# Names extras may not use: arrays write_clip fills itself and np.savez's arguments.
RESERVED_ARRAYS = ("frames", "joints", "intrinsics", "file", "allow_pickle")
# Ids become file names: letters, digits, '_', '-', '.', not starting with '.'.
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class FormatError(ValueError):
    """A malformed FSJD dataset: bad manifest line, missing array, wrong shape."""


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
    arrays = _clip_arrays(record, joints, intrinsics, extras or {})
    expected = (record.frames, record.size[1], record.size[0], 3)
    if np.shape(frames) != expected:
        raise ValueError(f"clip {record.id}: frames have shape {np.shape(frames)}, the record "
                         f"says {expected} (frames, height, width, 3)")
    for relative in (record.video, record.joints):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
    write_video(root / record.video, frames, record.fps, crf=crf)
    write_npz(root / record.joints, arrays)
    return record


def _clip_arrays(record: ClipRecord, joints: np.ndarray, intrinsics: np.ndarray,
                 extras: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Validated npz contents: float32 joints/intrinsics and the extras as given."""
    where, t = f"clip {record.id}", record.frames
    joints = _finite_float32(joints, "joints", [(t, NUM_JOINTS, 3)], where)
    intrinsics = _finite_float32(intrinsics, "intrinsics", [(3, 3), (t, 3, 3)], where)
    arrays = {"joints": joints, "intrinsics": intrinsics}
    for name, value in extras.items():
        if not (isinstance(name, str) and name.isidentifier()) or name in RESERVED_ARRAYS:
            raise ValueError(f"{where}: extra array name {name!r} must be an identifier "
                             f"other than {RESERVED_ARRAYS}")
        value = np.asarray(value)
        if value.dtype.kind not in "biufc":
            raise ValueError(f"{where}: extra array {name!r} must be numeric, got {value.dtype}")
        arrays[name] = value
    return arrays


def _finite_float32(array: np.ndarray, name: str, shapes: list[tuple], where: str) -> np.ndarray:
    """``array`` as float32, checked to have one of ``shapes`` and only finite values."""
    array = np.asarray(array)
    if array.shape not in shapes or array.dtype.kind not in "iuf":
        raise ValueError(f"{where}: {name} must be a float array of shape "
                         f"{' or '.join(map(str, shapes))}, got {array.dtype} {array.shape}")
    with np.errstate(over="ignore"):  # too large for float32 -> inf, reported below
        array = array.astype(np.float32)
    bad = ~np.isfinite(array)
    if bad.any():
        rows = np.unique(np.nonzero(bad)[0])[:5].tolist()
        raise ValueError(f"{where}: {name} has NaN/inf values (first index {rows}); "
                         "drop or repair those frames before writing")
    return array


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez`` the arrays, in name order, atomically. Byte-deterministic: numpy
    writes each member through ``ZipFile.open(name, "w")``, whose timestamp is the
    fixed 1980-01-01 rather than the current time (checked in the tests)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as file:  # a file: no ".npz" appended
        np.savez(file, allow_pickle=False, **{name: arrays[name] for name in sorted(arrays)})


def _read_npz(path: Path, clip_id: str, names: Iterable[str] | None = None) -> dict:
    """Arrays of the npz at ``path`` (only ``names`` if given); ``FormatError`` if broken."""
    if not path.is_file():
        raise FileNotFoundError(f"joints file not found: {path} (clip {clip_id}); "
                                "re-create the clip or fix the manifest")
    broken = (OSError, ValueError, EOFError, zipfile.BadZipFile)
    try:
        archive = np.load(path, allow_pickle=False)
    except broken as error:
        raise FormatError(f"{path}: unreadable npz (clip {clip_id}): {error}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise FormatError(f"{path}: not an npz archive (clip {clip_id}); re-create the clip")
    with archive:
        names = archive.files if names is None else list(names)
        missing = [name for name in names if name not in archive.files]
        if missing:
            raise FormatError(f"{path}: missing arrays {missing} (clip {clip_id})")
        try:
            return {name: archive[name] for name in names}
        except broken as error:
            raise FormatError(f"{path}: unreadable npz (clip {clip_id}): {error}") from None


def load_clip(root: str | os.PathLike, record_or_id: ClipRecord | str) -> dict[str, np.ndarray]:
    """Load one clip: ``frames`` uint8 ``(T, H, W, 3)``, ``joints`` float32 ``(T, 24, 3)``,
    ``intrinsics`` ``(3, 3)`` or ``(T, 3, 3)``, and any extra arrays by name. An id is
    looked up in the manifest. ``FormatError`` if the files disagree with the record."""
    root = Path(root)
    record = record_or_id
    if not isinstance(record, ClipRecord):
        record = _find_record(root, record_or_id)
    arrays = _read_npz(root / record.joints, record.id)
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
    with atomic_path(Path(root) / MANIFEST_NAME) as tmp:
        tmp.write_text(text, encoding="utf-8")


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
            first_line[record.id] = number
            records.append(record)
    return records


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
        joints = _read_npz(Path(root) / record.joints, record.id, ["joints"])["joints"]
        if joints.shape != (record.frames, NUM_JOINTS, 3):
            raise FormatError(f"clip {record.id}: joints have shape {joints.shape}, expected "
                              f"{(record.frames, NUM_JOINTS, 3)}")
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
    """Atomically write ``stats`` to ``root/stats.json`` (sorted keys, plain lists and
    floats; numpy arrays are converted), byte-deterministic."""
    path = Path(root) / STATS_NAME
    try:
        text = json.dumps(stats, indent=2, sort_keys=True, allow_nan=False, default=_plain)
    except ValueError as error:
        raise ValueError(f"{path}: stats must hold finite numbers only ({error})") from None
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")


def read_stats(root: str | os.PathLike) -> dict:
    """``root/stats.json`` as a dict; ``FormatError`` if it is not valid JSON."""
    path = Path(root) / STATS_NAME
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise FormatError(f"{path}: not valid JSON: {error}") from None


def _plain(value: object) -> object:
    """JSON fallback for numpy values: arrays to lists, scalars to Python numbers."""
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


# ------------------------------------------------------------------------ output dirs


@contextlib.contextmanager
def output_dir(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Build a folder with nothing half-written: yields a fresh hidden sibling
    ``.{name}.tmp-XXXXXXXX``; on success it becomes ``path`` (replacing an existing
    folder only if empty or ``overwrite``), on an exception it is removed.

    Checks up front (before the body runs) that ``path``'s parent is writable and
    that ``path`` is not a non-empty folder (unless ``overwrite``)."""
    path = Path(os.path.abspath(path))  # "out/." and "." get a real name
    _check_target(path, overwrite)
    tmp = _make_temp_dir(path)
    try:
        yield tmp
        _move_into_place(tmp, path, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _check_target(path: Path, overwrite: bool) -> None:
    """Raise a clear ``OSError`` unless ``path`` can be created or replaced."""
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path} exists and is not a folder; choose another path")
    if path.is_dir() and not overwrite and any(path.iterdir()):
        raise FileExistsError(f"{path} exists and is not empty; pass --overwrite "
                              "(overwrite=True) to replace it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OSError(f"cannot write to {path}: {error.strerror or error}") from None
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write to {path}: folder {path.parent} is not writable")


def _make_temp_dir(path: Path) -> Path:
    """Create an empty hidden sibling folder ``.{name}.tmp-XXXXXXXX``."""
    while True:
        tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}")
        try:
            tmp.mkdir()
            return tmp
        except FileExistsError:
            continue
        except OSError as error:
            raise OSError(f"cannot write to {path}: {error.strerror or error}") from None


def _move_into_place(tmp: Path, path: Path, overwrite: bool) -> None:
    """Rename ``tmp`` to ``path``; an old non-empty ``path`` is replaced if ``overwrite``."""
    if overwrite and path.is_dir() and any(path.iterdir()):
        old = path.with_name(f".{path.name}.old-{secrets.token_hex(4)}")
        os.rename(path, old)
        try:
            os.rename(tmp, path)
        except BaseException:
            os.rename(old, path)
            raise
        shutil.rmtree(old, ignore_errors=True)
        return
    try:
        os.rename(tmp, path)  # also replaces an empty folder
    except OSError as error:
        raise FileExistsError(f"cannot move the new folder to {path}: {error.strerror}; "
                              "was it filled meanwhile? pass --overwrite to replace it") from None
