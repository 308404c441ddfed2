"""MTVCrafter's upstream sample data: a restricted pickle loader and an FSJD importer.

Upstream format (``sampled_data.pkl`` of DINGYANB/MTVCrafter): a list of dicts, each with

- ``video_path``: str, the video relative to the pkl's folder (e.g. ``./videos/x.mp4``)
- ``pose``: float32 ``(T, 24, 3)``, SMPL-24 joints from NLF, camera space, millimetres
- ``video_length``: int, frames of the video; ``video_height``/``video_width``: int, pixels

The pkl is read with ``RestrictedUnpickler``: it admits only the globals that numpy arrays
need (the real file, pickle protocol 4, references exactly
``numpy._core.multiarray._reconstruct``, ``numpy.ndarray`` and ``numpy.dtype``; numpy 1.x
writes ``numpy.core.multiarray`` instead, protocol 5 ``numpy._core.numeric._frombuffer``,
numpy scalars ``multiarray.scalar``) plus plain builtin types, so a pickle that would run code is refused before it can.

``import_mtvcrafter`` writes an FSJD folder: one clip per sample, poses unchanged (NLF camera
space, mm), intrinsics = NLF's default camera of the frames NLF ran on,
``nlf_intrinsics(video_width, video_height)``, scaled with any resize.

Frame-count policy: pose frame t belongs to video frame t (both start at frame 0). When
the pose and the video disagree in length, the first ``min(pose, video)`` frames of both
are kept and the clip's ``quality`` says so (``passed: false`` with a reason); the import
does not fail, so one odd sample does not block a large import.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import os
import pickle
import re
from pathlib import Path, PurePosixPath

import numpy as np

from sportanim import fsjd
from sportanim.io.video import probe_video, read_frames
from sportanim.progress import progress_bar
from sportanim.skeleton import NUM_JOINTS, nlf_intrinsics, project

REQUIRED_KEYS = ("video_path", "pose", "video_length", "video_height", "video_width")
MIN_SIZE = 16
MAX_SIZE = 4096  # longer side after resizing: frames are held in memory (4096 px: 30 MB each)


class UpstreamFormatError(ValueError):
    """An upstream pkl that is unreadable or not in the expected format."""


class UnsafePickleError(pickle.UnpicklingError, ValueError):
    """A pickle that references a global outside the allow-list (it could run code)."""


# ---------------------------------------------------------------------- restricted pickle


def _allowed_globals(budget: int, source: str) -> dict[tuple[str, str], object]:
    """(module, name) -> object for every global a pickle of plain data + numpy may use.

    Both spellings of numpy's multiarray module map to the installed one, so a file
    written by numpy 1.x (``numpy.core``) or 2.x (``numpy._core``) loads on either. The
    constructors that take a size (``bytearray(n)``, ``bytes(n)``, an array of a shape) are
    wrapped to refuse more than ``budget`` bytes: a pickle's data is stored inline, so a
    35-byte file asking for gigabytes is an attack, refused before anything is allocated."""
    try:
        from numpy._core import multiarray, numeric
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray, numeric

    def check(nbytes: int, what: str) -> None:
        if nbytes > budget:
            raise UnsafePickleError(f"{source}: the pickle asks for a {what} of {nbytes:,} bytes, more than a "
                                    f"file of its size can hold ({budget:,}); refusing it before allocating")

    def sized(kind: type):
        def make(*args):
            if args and isinstance(args[0], (int, np.integer)) and not isinstance(args[0], bool):
                check(int(args[0]), kind.__name__)
            return kind(*args)
        return make

    def array_bytes(shape, dtype) -> int:
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        return int(np.prod([int(n) for n in shape], dtype=object)) * np.dtype(dtype).itemsize

    def ndarray(shape, dtype=float, *args):
        check(array_bytes(shape, dtype), "numpy array")
        return np.ndarray(shape, dtype, *args)

    def reconstruct(subtype, shape, dtype):
        check(array_bytes(shape, dtype), "numpy array")
        return multiarray._reconstruct(np.ndarray if subtype is ndarray else subtype, shape, dtype)

    allowed: dict[tuple[str, str], object] = {
        ("numpy", "ndarray"): ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): codecs.encode,  # bytes in protocol <= 2
    }
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = reconstruct
        allowed[(module, "scalar")] = multiarray.scalar  # numpy scalars, e.g. np.int64(127)
    for module in ("numpy.core.numeric", "numpy._core.numeric"):
        allowed[(module, "_frombuffer")] = numeric._frombuffer  # arrays in protocol 5
    for module in ("builtins", "__builtin__"):  # protocol 0/1 spell plain types as globals
        for kind in (set, frozenset, complex, list, dict, tuple, int, float, str, bool):
            allowed[(module, kind.__name__)] = kind
        for kind in (bytearray, bytes):
            allowed[(module, kind.__name__)] = sized(kind)
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """A ``pickle.Unpickler`` whose ``find_class`` admits only numpy arrays/dtypes/scalars
    and plain builtin types; any other global raises ``UnsafePickleError`` before it is
    imported or called. ``source`` names the file in error messages; ``budget`` (bytes,
    default: a few times the file's size) bounds what a sized constructor may allocate."""

    def __init__(self, file: io.BufferedIOBase, source: str | os.PathLike, budget: int | None = None) -> None:
        super().__init__(file)
        self._source = str(source)
        if budget is None:
            try:
                size = os.fstat(file.fileno()).st_size
            except (AttributeError, OSError):  # an in-memory file
                size = len(file.getbuffer()) if hasattr(file, "getbuffer") else 0
            budget = 4 * size + (1 << 20)
        self._allowed = _allowed_globals(budget, self._source)

    def find_class(self, module: str, name: str) -> object:
        found = self._allowed.get((module, name))
        if found is None:
            raise UnsafePickleError(
                f"refusing to load GLOBAL {module}.{name} from {self._source}: only numpy "
                "arrays and plain types are allowed; re-save the file with lists, dicts, "
                "str, int, float and numpy arrays only")
        return found


def load_upstream_pkl(path: str | os.PathLike) -> list[dict]:
    """Load and validate an upstream ``sampled_data.pkl`` with ``RestrictedUnpickler``.

    Returns the list of sample dicts (``pose`` float32 ``(T, 24, 3)`` mm, finite).
    Raises ``UnsafePickleError`` for a pickle that references a non-data global,
    ``UpstreamFormatError`` for an unreadable file or a wrong structure, and
    ``FileNotFoundError`` for a missing file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pkl not found: {path}; check the path")
    with open(path, "rb") as file:
        try:
            data = RestrictedUnpickler(file, path).load()
        except UnsafePickleError:
            raise
        except MemoryError:  # a limit of this machine, not a broken file
            raise UpstreamFormatError(f"{path}: the pickle needs more memory than is free here to load; "
                                      "free memory or split the file") from None
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
                IndexError, KeyError) as error:
            raise UpstreamFormatError(f"{path}: not a readable pickle ({type(error).__name__}: "
                                      f"{error}); re-download or re-create it") from None
    return _validate_samples(data, path)


def _validate_samples(data: object, path: Path) -> list[dict]:
    """``data`` checked to be a non-empty list of valid sample dicts; pose as float32."""
    if not isinstance(data, list) or not data:
        raise UpstreamFormatError(f"{path}: expected a non-empty list of sample dicts, got "
                                  f"{_describe(data)}; is it MTVCrafter's sampled_data.pkl?")
    return [_validate_sample(sample, index, path) for index, sample in enumerate(data)]


def _validate_sample(sample: object, index: int, path: Path) -> dict:
    """One sample dict checked (keys, types, pose shape/finiteness); a shallow copy."""
    where = f"{path}: sample {index}"
    if not isinstance(sample, dict):
        raise UpstreamFormatError(f"{where} is {_describe(sample)}, expected a dict with "
                                  f"keys {list(REQUIRED_KEYS)}")
    missing = [key for key in REQUIRED_KEYS if key not in sample]
    if missing:
        raise UpstreamFormatError(f"{where} lacks keys {missing}; expected {list(REQUIRED_KEYS)}")
    if not isinstance(sample["video_path"], str) or not sample["video_path"]:
        raise UpstreamFormatError(f"{where}: video_path must be a non-empty str, got "
                                  f"{sample['video_path']!r}")
    where = f"{where} ({sample['video_path']})"
    for key in ("video_length", "video_height", "video_width"):
        value = sample[key]
        if not (isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 0):
            raise UpstreamFormatError(f"{where}: {key} must be a positive int, got {value!r}")
    return {**sample, "pose": _validate_pose(sample["pose"], where),
            **{key: int(sample[key]) for key in REQUIRED_KEYS[2:]}}


def _validate_pose(pose: object, where: str) -> np.ndarray:
    """``pose`` as float32 ``(T >= 1, 24, 3)`` with finite values, else a clear error."""
    if not (isinstance(pose, np.ndarray) and pose.dtype.kind in "fiu" and pose.ndim == 3
            and pose.shape[0] >= 1 and pose.shape[1:] == (NUM_JOINTS, 3)):
        raise UpstreamFormatError(f"{where}: pose must be a float array (T, {NUM_JOINTS}, 3) "
                                  f"(SMPL-24 joints, mm), got {_describe(pose)}")
    pose = pose.astype(np.float32)
    bad = ~np.isfinite(pose).all(axis=(1, 2))
    if bad.any():
        raise UpstreamFormatError(f"{where}: pose has NaN/inf in frames "
                                  f"{np.nonzero(bad)[0][:5].tolist()}; repair or drop the sample")
    return pose


def _describe(value: object) -> str:
    """Short description of a value for error messages (type, and shape for arrays)."""
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array {value.shape}"
    return type(value).__name__


# --------------------------------------------------------------------------------- import


def import_mtvcrafter(pkl_path: str | os.PathLike, out_dir: str | os.PathLike,
                      size: int | None = None, frames: int | None = None,
                      overwrite: bool = False, show_progress: bool = False,
                      videos: str | os.PathLike | None = None) -> list[fsjd.ClipRecord]:
    """Import MTVCrafter's ``sampled_data.pkl`` (+ its videos) as an FSJD folder ``out_dir``.

    One clip per sample, id = the video's file stem (made unique), split "train" (run
    ``split_dataset`` afterwards), labels ``domain="daily"`` and everything else null.

    - ``size``: None keeps the original resolution; an int resizes so that the longer
      side is ``size`` pixels (aspect kept); intrinsics scale with it (per axis).
    - ``frames``: None keeps every aligned frame; an int keeps the first ``frames``
      (``ValueError`` if a sample has fewer aligned pose/video frames).
    - Odd widths/heights are padded by one pixel on the right/bottom (edge pixels
      repeated), which leaves the intrinsics unchanged (pixel origin is the top-left).
    - ``overwrite``: replace an existing non-empty ``out_dir``.
    - ``videos``: the folder the pkl's ``video_path`` entries are resolved in (default: the
      pkl's folder); a path that leads outside it (absolute, ``..``, a link) is refused, so a
      pkl cannot make the import read arbitrary files.

    Nothing is left at ``out_dir`` unless every clip, the manifest and stats.json were
    written (``fsjd.output_dir``). Returns the written records."""
    _check_options(size, frames)
    pkl_path = Path(pkl_path)
    samples = load_upstream_pkl(pkl_path)
    provenance = {"kind": "mtvcrafter", "pkl": os.path.abspath(pkl_path),
                  "pkl_sha256": hashlib.sha256(pkl_path.read_bytes()).hexdigest()}
    ids = _clip_ids([sample["video_path"] for sample in samples])
    root = Path(videos if videos is not None else pkl_path.parent).resolve()
    video_files = [_resolve_video(root, sample["video_path"], f"{pkl_path}: sample {i}")
                   for i, sample in enumerate(samples)]  # all checked before anything is written
    with fsjd.output_dir(out_dir, overwrite=overwrite) as tmp:
        records = []
        with progress_bar(f"import {len(samples)} clips", total=len(samples),
                          enabled=show_progress) as advance:
            for index, (clip_id, sample, video_path) in enumerate(zip(ids, samples, video_files)):
                source = {**provenance, "index": index}
                records.append(_import_sample(tmp, pkl_path, video_path, clip_id, sample, source, size, frames))
                advance()
        fsjd.write_manifest(tmp, records)
        fsjd.write_stats(tmp, fsjd.compute_stats(tmp, records))
    return records


def _check_options(size: int | None, frames: int | None) -> None:
    """``ValueError`` for a size outside [``MIN_SIZE``, ``MAX_SIZE``] or a frame count below 1."""
    if size is not None and not (isinstance(size, (int, np.integer)) and MIN_SIZE <= size <= MAX_SIZE):
        raise ValueError(f"--size must be an integer in [{MIN_SIZE}, {MAX_SIZE}] (pixels of the longer "
                         f"side), got {size!r}; omit it to keep the original size")
    if frames is not None and not (isinstance(frames, (int, np.integer)) and frames >= 1):
        raise ValueError(f"--frames must be an integer >= 1, got {frames!r}; omit it to "
                         "keep every frame")


def _clip_ids(video_paths: list[str]) -> list[str]:
    """Safe, unique clip ids from the videos' file stems (``dance_17``, ``dance_17-1``...)."""
    ids, seen = [], set()
    for index, video_path in enumerate(video_paths):
        stem = re.sub(r"[^A-Za-z0-9._-]", "_", PurePosixPath(video_path.replace("\\", "/")).stem)
        stem = stem.lstrip("._-")[:100] or f"sample{index:05d}"
        clip_id, n = stem, 0
        while clip_id in seen:
            n += 1
            clip_id = f"{stem}-{n}"
        seen.add(clip_id)
        ids.append(clip_id)
    return ids


def _import_sample(root: Path, pkl_path: Path, video_path: Path, clip_id: str, sample: dict, source: dict,
                   size: int | None, frames: int | None) -> fsjd.ClipRecord:
    """Write one sample as clip ``clip_id`` under ``root``; returns its record."""
    where = f"{pkl_path}: sample {source['index']} ({sample['video_path']})"
    header = probe_video(video_path)
    width, height = sample["video_width"], sample["video_height"]
    if (header["width"], header["height"]) != (width, height):
        raise ValueError(f"{where}: the pkl says {width}x{height} but {video_path} is "
                         f"{header['width']}x{header['height']}; NLF's camera would not fit "
                         "this video, use the video the poses were estimated on")
    new_size = _target_size(width, height, size)
    video, fps, n_video = read_frames(video_path, frames, new_size)
    n_pose = len(sample["pose"])
    n_kept = min(n_pose, n_video) if frames is None else frames
    if n_kept > min(n_pose, n_video):
        raise ValueError(f"{where}: --frames {frames} but the sample has only "
                         f"{min(n_pose, n_video)} aligned frames (pose {n_pose}, video "
                         f"{n_video}); lower --frames")
    video, pad = pad_to_even(video[:n_kept])
    intrinsics = scaled_intrinsics(nlf_intrinsics(width, height), (width, height), new_size)
    joints = sample["pose"][:n_kept]
    record = fsjd.ClipRecord(
        id=clip_id, fps=fps, size=(video.shape[2], video.shape[1]), frames=n_kept,
        split="train", labels={"domain": "daily"},
        source={**source, "video_path": sample["video_path"], "video": os.path.abspath(video_path),
                "codec": header["codec"], "original_size": [width, height], "original_fps": fps,
                "original_frames": n_video, "frame_range": [0, n_kept],
                "scale": [new_size[0] / width, new_size[1] / height], "pad": list(pad),
                "camera": f"nlf_intrinsics({width}, {height}) scaled to {new_size[0]}x"
                          f"{new_size[1]}: NLF's default, 55 deg FOV over the longer side"},
        quality=_quality(sample, n_pose, n_video, n_kept, joints, intrinsics, new_size))
    return fsjd.write_clip(root, record, video, joints, intrinsics.astype(np.float32))


def _resolve_video(root: Path, video_path: str, where: str) -> Path:
    """The sample's video under ``root`` (resolved, links followed); ``ValueError`` if it
    leads anywhere else."""
    path = Path(video_path)
    resolved = (path if path.is_absolute() else root / path).resolve()
    if not resolved.is_relative_to(root):
        raise ValueError(f"{where}: video_path {video_path!r} leads outside {root}; put the videos under "
                         "one folder and pass it as --videos DIR")
    return resolved


def _target_size(width: int, height: int, size: int | None) -> tuple[int, int]:
    """(width, height) after resizing the longer side to ``size`` (None: unchanged)."""
    if size is None:
        return width, height
    scale = size / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def scaled_intrinsics(intrinsics: np.ndarray, old_size: tuple[int, int],
                      new_size: tuple[int, int]) -> np.ndarray:
    """Intrinsics ``(3, 3)`` of an image resized from ``old_size`` to ``new_size``
    (both (width, height)): row 0 (fx, skew, cx) scales by the width ratio, row 1
    (fy, cy) by the height ratio (pixel coordinates are continuous from the top-left)."""
    scaled = np.array(intrinsics, dtype=np.float64)
    scaled[0] *= new_size[0] / old_size[0]
    scaled[1] *= new_size[1] / old_size[1]
    return scaled


def pad_to_even(video: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """Pad uint8 ``(T, H, W, 3)`` by one repeated edge column/row on the right/bottom
    where W/H is odd (H.264 yuv420p needs even sizes). Returns (video, (right, bottom))."""
    right, bottom = video.shape[2] % 2, video.shape[1] % 2
    if right or bottom:
        video = np.pad(video, ((0, 0), (0, bottom), (0, right), (0, 0)), mode="edge")
    return video, (right, bottom)


def _quality(sample: dict, n_pose: int, n_video: int, n_kept: int, joints: np.ndarray,
             intrinsics: np.ndarray, size: tuple[int, int]) -> dict:
    """Gates and facts: frame counts agree (else ``passed`` False with a reason) and the
    fraction of joints that project inside the (unpadded) frame."""
    reasons = []
    if n_pose != n_video:
        reasons.append(f"pose has {n_pose} frames, the video {n_video}: kept the first "
                       f"{n_kept} of both (assumes both start at frame 0)")
    if sample["video_length"] != n_video:
        reasons.append(f"pkl video_length {sample['video_length']} != {n_video} frames "
                       "decoded from the video")
    return {"passed": not reasons, "reasons": reasons, "pose_frames": n_pose,
            "video_frames": n_video, "kept_frames": n_kept,
            "joints_in_frame": round(fraction_in_frame(joints, intrinsics, size), 4)}


def fraction_in_frame(joints: np.ndarray, intrinsics: np.ndarray, size: tuple[int, int]) -> float:
    """Share of joints ``(T, 24, 3)`` (in front of the camera) whose projection with
    ``intrinsics`` lies inside a ``size`` = (width, height) image, in [0, 1]."""
    uv = project(joints, intrinsics)
    inside = ((uv[..., 0] >= 0) & (uv[..., 0] < size[0]) & (uv[..., 1] >= 0)
              & (uv[..., 1] < size[1]))
    return float(inside.mean())
